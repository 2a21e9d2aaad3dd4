package test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shipmate/internal/adapters/discord/discordtest"
)

// manyApps is the fixture's apps block for n more apps, each deployed by
// the fixture's scripts, so that n runs can be requested at once without
// one app's lock refusing the next.
func manyApps(f *fixture, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  app%d:\n    executor: exec\n    exec:\n      deploy: [\"sh\", %q]\n      rollback: [\"sh\", %q]\n",
			i, f.dir+"/deploy.sh", f.dir+"/rollback.sh")
	}
	return b.String()
}

// signedCommand is a Discord /deploy run of app to staging, as Discord
// posts it: the body and its Ed25519 signature headers.
type signedCommand struct {
	body           []byte
	sig, timestamp string
}

func newSignedCommand(b *testing.B, app string, ts time.Time) signedCommand {
	opts := []map[string]any{{"name": "app", "type": 3, "value": app},
		{"name": "version", "type": 3, "value": "v1.2.3"}, {"name": "env", "type": 3, "value": "staging"}}
	ic := dcInteraction(2, dcDev, nil, map[string]any{"id": "C1", "name": "deploy", "type": 1,
		"options": []map[string]any{{"name": "run", "type": 1, "options": opts}}}, "")
	body, err := json.Marshal(ic)
	if err != nil {
		b.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	return signedCommand{body: body, timestamp: stamp,
		sig: hex.EncodeToString(ed25519.Sign(dcKey, append([]byte(stamp), body...)))}
}

// send posts c to the bot at addr and checks that the answer names the
// stored run.
func (c signedCommand) send(hc *http.Client, addr string) error {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/discord/interactions", bytes.NewReader(c.body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Signature-Ed25519", c.sig)
	req.Header.Set("X-Signature-Timestamp", c.timestamp)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte("requested")) {
		return fmt.Errorf("answer %s: %s", resp.Status, out)
	}
	return nil
}

// BenchmarkSignedCommandToStoredIntent measures the built bot from a
// signed Discord /deploy, posted over HTTP by 50 users at once, to its
// answer, which comes once the run is stored: on the bbolt file, and on a
// three-member etcd cluster on loopback (the bot then one replica, its
// leader). The bot's follow-up work (posting each run's message, moving
// it to its checklist) runs meanwhile, as in production.
func BenchmarkSignedCommandToStoredIntent(b *testing.B) {
	const users = 50
	for _, backend := range []string{"bbolt", "etcd"} {
		b.Run("store="+backend+"/users=50", func(b *testing.B) {
			f := newFixture(b)
			api := discordtest.New(b)
			f.chat = discordBlock(api)
			f.apps = manyApps(f, b.N)
			if backend == "etcd" {
				f.store = newEtcdCluster(b).url("shipmate")
			}
			f.writeConfig()
			bot := f.start()
			eventually(b, stateTimeout, "/readyz", func() (bool, string) {
				code, body, err := bot.get("/readyz")
				return err == nil && code == http.StatusOK && !strings.Contains(body, "following"), fmt.Sprint(code, body, err)
			})
			cmds := make([]signedCommand, b.N)
			for i := range cmds {
				cmds[i] = newSignedCommand(b, fmt.Sprintf("app%d", i), time.Now())
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: users}, Timeout: time.Minute}
			took := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range users {
				wg.Go(func() {
					for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
						began := time.Now()
						if err := cmds[i].send(hc, bot.addr); err != nil {
							b.Error(err)
							return
						}
						took[i] = time.Since(began)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
			b.ReportMetric(float64(took[b.N/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[b.N*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
