package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// signingSecret is the Slack signing secret the bot and the bare handler
// are given.
const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// benchUser is the Slack user the commands come from (a deployer).
const benchUser = "U0BENCH"

// triggers numbers the commands, so that each carries its own trigger_id
// (the bot drops a repeated one as a retried delivery).
var triggers atomic.Uint64

// slashCommand returns a signed POST of "/deploy text" to addr, as Slack
// sends it.
func slashCommand(addr, text string) (*http.Request, error) {
	form := url.Values{
		"token": {"bench"}, "team_id": {"T0BENCH"}, "team_domain": {"bench"},
		"channel_id": {"C0BENCH"}, "channel_name": {"bench"}, "user_id": {benchUser}, "user_name": {"bench"},
		"command": {"/deploy"}, "text": {text}, "response_url": {"http://" + addr + "/unused"},
		"trigger_id": {fmt.Sprintf("%d.47445629121.bench", triggers.Add(1))},
	}
	body := []byte(form.Encode())
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return req, nil
}

// send posts one signed command and returns the answer's body; any status
// but 200 is an error.
func send(hc *http.Client, addr, text string) ([]byte, error) {
	req, err := slashCommand(addr, text)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// script says what connection conn sends as its i-th command, and what its
// answer must contain ("" for anything).
type script func(conn, i int) (text, want string)

// statusScript is the read: /deploy status.
func statusScript(int, int) (string, string) { return "status", "" }

// historyApp and historyEnv are what the history read lists: in the large
// store, one of the 50 apps the seeded runs belong to.
const historyApp, historyEnv = "demo-0", "development"

// historyScript is the other read: /deploy history of one app in one
// environment.
func historyScript(int, int) (string, string) {
	return "history " + historyApp + " " + historyEnv, ""
}

// Answers of the state change.
const (
	lockedAnswer   = "is locked in"
	unlockedAnswer = "is unlocked in"
)

// lockScript alternates lock and unlock of the connection's own app in
// dev, so that every command is a state change that must succeed.
func lockScript(conn, i int) (string, string) {
	if i%2 == 0 {
		return fmt.Sprintf("lock %s dev bench", appName(conn)), lockedAnswer
	}
	return fmt.Sprintf("unlock %s dev", appName(conn)), unlockedAnswer
}

// appName is the app connection conn locks and unlocks.
func appName(conn int) string { return fmt.Sprintf("demo-%d", conn) }

// result is one load phase's figures.
type result struct {
	requests, errors int
	// refused counts 200s without the expected answer (a lock not taken).
	refused int
	// matched counts the answers that said what was wanted, by want.
	matched  map[string]int
	elapsed  time.Duration
	p50, p99 time.Duration
	firstErr error
}

func (r result) perSecond() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// client is one keep-alive connection.
func client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
}

// load runs a closed loop for d: conns connections, each sending its next
// command as soon as the previous is answered. Every connection ends on an
// even count of commands, so a lock is always followed by its unlock.
func load(addr string, conns int, d time.Duration, sc script) result {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		res       = result{matched: map[string]int{}}
		wg        sync.WaitGroup
	)
	stop := time.Now().Add(d)
	began := time.Now()
	for c := range conns {
		wg.Go(func() {
			hc := client()
			defer hc.CloseIdleConnections()
			var mine []time.Duration
			var errs, refused int
			var firstErr error
			matched := map[string]int{}
			for i := 0; i%2 == 1 || time.Now().Before(stop); i++ {
				text, want := sc(c, i)
				t0 := time.Now()
				out, err := send(hc, addr, text)
				mine = append(mine, time.Since(t0))
				switch {
				case err != nil:
					errs++
					firstErr = cmpOr(firstErr, err)
				case want != "" && !bytes.Contains(out, []byte(want)):
					refused++
					firstErr = cmpOr(firstErr, fmt.Errorf("%q answered %s", text, out))
				case want != "":
					matched[want]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, mine...)
			res.errors += errs
			res.refused += refused
			res.firstErr = cmpOr(res.firstErr, firstErr)
			for want, n := range matched {
				res.matched[want] += n
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(began)
	res.requests = len(latencies)
	slices.Sort(latencies)
	res.p50, res.p99 = quantile(latencies, 0.50), quantile(latencies, 0.99)
	return res
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
