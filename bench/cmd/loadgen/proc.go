package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is a spawned server: the bot or the bare handler.
type proc struct {
	cmd  *exec.Cmd
	addr string
	// ready is how long it took from the start of the process to the
	// first 200 answer to a signed command.
	ready  time.Duration
	stderr bytes.Buffer
	done   chan struct{}
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// spawn starts argv (which must listen on addr) and times it to its first
// 200 answer to a signed /deploy status, polling every 200µs.
func spawn(addr string, env []string, argv ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), addr: addr, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := began.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := send(hc, addr, "status"); err == nil {
			p.ready = time.Since(began)
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before answering: %s", argv[0], p.stderr.String())
		case <-time.After(200 * time.Microsecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s gave no 200 within 30s: %s", argv[0], p.stderr.String())
}

// stop ends the process with SIGTERM, then SIGKILL after 10s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// mem is a reading of the process's memory, in MiB: its resident set
// (VmRSS), the anonymous and file-backed parts of it (RssAnon, RssFile:
// the binary's pages and the store's, which bbolt maps into memory), and
// the peak resident set so far (VmHWM).
type mem struct{ rss, anon, file, peak float64 }

// memory reads the process's memory now.
func (p *proc) memory() (mem, error) {
	m, err := p.status()
	if err != nil {
		return mem{}, err
	}
	return mem{rss: m["VmRSS"], anon: m["RssAnon"], file: m["RssFile"], peak: m["VmHWM"]}, nil
}

// status reads the kB fields of /proc/<pid>/status, in MiB.
func (p *proc) status() (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[0], 64)
		m[name] = kb / 1024
	}
	if m["VmRSS"] == 0 {
		return nil, errors.New("no VmRSS in /proc status")
	}
	return m, sc.Err()
}

// idle waits for the process to settle, then reads its memory.
func (p *proc) idle(settle time.Duration) (mem, error) {
	time.Sleep(settle)
	return p.memory()
}

// slackStub answers every Slack Web API method the bot may call with ok
// and a fresh message ts, so that posting never waits on the network.
func slackStub() *httptest.Server {
	var ts atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		answer := map[string]any{
			"ok": true, "channel": r.Form.Get("channel"), "ts": fmt.Sprintf("1700000000.%06d", ts.Add(1)),
			"url": "https://bench.slack.com/", "team": "Bench", "user": "shipmate", "team_id": "T0BENCH",
			"user_id": "U0BOT", "bot_id": "B0BOT",
		}
		if strings.HasSuffix(r.URL.Path, "/users.info") {
			answer["user"] = map[string]any{"id": r.Form.Get("user"), "name": "bench", "real_name": "Bench"}
		}
		_ = json.NewEncoder(w).Encode(answer)
	}))
}
