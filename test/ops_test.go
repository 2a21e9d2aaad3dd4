package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// TestHealthReadinessAndMetrics checks what an operator's probes and
// Prometheus see of a bot that has run a deployment.
func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.start()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body, err := b.get(path); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s = %d %q %v, want 200", path, code, body, err)
		}
	}
	id := b.request("bob", "/deploy demo v1 dev")
	b.waitState(id, "succeeded")
	b.command("bob", "/deploy demo v2 nowhere") // a refused command

	code, body, err := b.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %v", code, err)
	}
	for _, want := range []string{
		`shipmate_run_transitions_total{app="demo",env="development",state="succeeded"} 1`,
		`shipmate_run_transitions_total{app="demo",env="development",state="deploying"} 1`,
		`shipmate_runs{app="demo",env="development",state="deploying"} 0`,
		`shipmate_commands_total{kind="deploy",result="ok"} 1`,
		`shipmate_commands_total{kind="invalid",result="invalid"} 1`,
		`shipmate_step_duration_seconds_count{app="demo",env="development",result="ok",step="deploy"} 1`,
		`shipmate_build_info{goversion="go`,
		`shipmate_dora_deploys_per_day{app="demo",env="production"} 0`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The run's trail is in the log, one audit line an event, from the
	// request to the success; the refused command is a usage error, not a
	// refusal by a rule, and is none.
	var events []string
	for _, line := range strings.Split(b.log.String(), "\n") {
		var a map[string]any
		if json.Unmarshal([]byte(line), &a) != nil || a["audit"] != true {
			continue
		}
		if a["run"] != float64(id) || a["app"] != "demo" || a["env"] != "development" || a["message"] != "audit" {
			t.Errorf("audit line %s", line)
		}
		events = append(events, fmt.Sprintf("%v %v→%v", a["event"], a["from"], a["to"]))
	}
	for _, want := range []string{"requested <nil>→requested", "transition approved→deploying", "step <nil>→<nil>",
		"transition verifying→succeeded", "export <nil>→<nil>"} {
		if !slices.Contains(events, want) {
			t.Errorf("audit log lacks %q: %q", want, events)
		}
	}
}

// Behind an authenticating proxy the console shows nothing to a request
// without the user header, and bot export, asking the running bot, signs
// in by itself.
func TestConsoleBehindProxyReadsNeedTheHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.chat = "    user_header: X-Forwarded-User\n"
	f.writeConfig()
	b := f.start()

	for _, path := range []string{"/api/timeline", "/api/runs/1"} {
		if code, body, err := b.get(path); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s without the header = %d %q (%v), want 401", path, code, body, err)
		}
	}
	res := runOnce(t, f.dir, 10*time.Second, "export", "--config", f.config, "1")
	if res.code == 0 || !strings.Contains(res.stderr, "there is no run #1") {
		t.Errorf("bot export 1 = exit %d, stderr %q; want the bot's answer that there is no run #1", res.code, res.stderr)
	}
}

// Keys of chat deliveries (kept to act once on a retried click) are
// dropped by the bot once expired: a store does not keep every click ever
// made.
func TestExpiredDeliveryKeysAreDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st, err := store.Open(f.store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	for i := range 500 {
		if _, err := st.Once(context.Background(), fmt.Sprintf("slack:old-%d", i), time.Hour, past); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Once(context.Background(), "discord:recent", time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	b := f.start()
	if code, _ := b.terminate(); code != 0 {
		t.Fatalf("the bot exited with %d", code)
	}
	db, err := bolt.Open(f.store, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keys []string
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("idempotency")).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if len(keys) != 1 || keys[0] != "discord:recent" {
		t.Errorf("delivery keys after a start: %d (%.3q…), want only the unexpired one", len(keys), keys)
	}
}

// With a retention, the bot drops finished runs past it once started,
// keeping the newest of each app and environment.
func TestRetentionDropsOldRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.top = "retention: 30d\n"
	f.writeConfig()
	st, err := store.Open(f.store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(0, 0, -90)
	for i := range 25 {
		at := old.Add(time.Duration(i) * time.Hour)
		r := &runbook.Run{Action: runbook.ActionDeploy, App: "demo", Env: "development", Version: fmt.Sprintf("v%d", i),
			Requester: runbook.User{Platform: "web", ID: "bob", Person: "bob"}, State: runbook.StateFailed,
			CreatedAt: at, UpdatedAt: at, FinishedAt: at}
		if err := st.CreateRun(context.Background(), r, runbook.Event{At: at, Type: runbook.EvRequested, To: runbook.StateRequested}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	b := f.start()
	eventually(t, stateTimeout, "the log to say runs were dropped", func() (bool, string) {
		return strings.Contains(b.log.String(), `"runs":15,"retention":`) &&
			strings.Contains(b.log.String(), "runs past the retention dropped"), b.log.String()
	})
	if code, _ := b.terminate(); code != 0 {
		t.Fatalf("the bot exited with %d", code)
	}
	st, err = store.Open(f.store, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Recent(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	// The 10 newest stay.
	if len(runs) != 10 || runs[0].Version != "v24" || runs[9].Version != "v15" {
		var got []string
		for _, r := range runs {
			got = append(got, fmt.Sprintf("#%d %s", r.ID, r.Version))
		}
		t.Errorf("runs left %v, want v24…v15", got)
	}
}
