package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"shipmate/internal/logtest"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// now is the deliverer's clock: the events' time, so that none is past
// the outbox's maximum age.
func now() time.Time { return t0 }

var alice = runbook.User{Platform: "web", ID: "alice", Person: "alice"}

// openStore opens a bbolt store with the outbox on, in a temporary folder.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{Timeout: time.Second, Outbox: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eventually waits for cond, polling; it bounds a failure, not a pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// run starts a deliverer on s for eps, with backoffs short enough for a
// test, until the returned stop is called (or the test ends).
func run(t *testing.T, s runbook.Outbox, reg prometheus.Registerer, log zerolog.Logger, eps ...Endpoint) (d *Deliverer, stop func()) {
	t.Helper()
	d, err := New(Options{
		Outbox: s, Endpoints: eps, Source: "shipmate/test", Now: now, Registerer: reg, Log: log,
		MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		d.Run(ctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return d, stop
}

// newRun creates a run of app in env with its request event.
func newRun(t *testing.T, s *store.Store, app, env string) *runbook.Run {
	t.Helper()
	r := &runbook.Run{Action: runbook.ActionDeploy, App: app, Env: env, Version: "v1", Requester: alice,
		State: runbook.StateRequested, CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateRun(context.Background(), r, runbook.Event{At: t0, Type: runbook.EvRequested, Actor: &alice}); err != nil {
		t.Fatal(err)
	}
	return r
}

// move saves r in state to, with its transition event and a line of
// output (which is not sent).
func move(t *testing.T, s *store.Store, r *runbook.Run, to runbook.State) {
	t.Helper()
	from := r.State
	r.State = to
	evs := []runbook.Event{{At: t0, Type: runbook.EvTransition, From: from, To: to}, {At: t0, Type: runbook.EvOutput, Detail: "a line"}}
	if err := s.SaveRun(context.Background(), r, evs...); err != nil {
		t.Fatal(err)
	}
}

// outboxIDs are the ids of the entries in s's outbox, in order.
func outboxIDs(t *testing.T, s *store.Store) []string {
	t.Helper()
	es, err := s.OutboxAfter(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestEventIsSignedCloudEvent(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t)
	run(t, s, nil, zerolog.Nop(), Endpoint{URL: rcv.url(), Secret: "s3cret"})
	r := newRun(t, s, "web", "prod")
	eventually(t, "one delivery", func() bool { _, taken := rcv.stats(); return len(taken) == 1 })

	_, taken := rcv.stats()
	got := taken[0]
	// A receiver checks the signature with nothing but the standard library.
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(got.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got.sig != want {
		t.Errorf("%s = %q, want %q", SignatureHeader, got.sig, want)
	}
	if !Verify(got.body, "s3cret", got.sig) || Verify(got.body, "other", got.sig) {
		t.Error("Verify does not tell the right secret from a wrong one")
	}
	if got.contentType != ContentType {
		t.Errorf("Content-Type = %q, want %q", got.contentType, ContentType)
	}
	var ev map[string]any
	if err := json.Unmarshal(got.body, &ev); err != nil {
		t.Fatal(err)
	}
	id := runbook.RunEventID(r.ID, 1)
	for k, want := range map[string]any{
		"specversion": "1.0", "id": id, "source": "shipmate/test", "type": "dev.shipmate.run.requested",
		"subject": fmt.Sprintf("run/%d", r.ID), "datacontenttype": "application/json", "time": "2026-03-02T09:30:00Z",
	} {
		if ev[k] != want {
			t.Errorf("%s = %v, want %v", k, ev[k], want)
		}
	}
	if got.id != id {
		t.Errorf("%s = %q, want %q", DeliveryHeader, got.id, id)
	}
	data, _ := ev["data"].(map[string]any)
	if data["event"] != "requested" || data["app"] != "web" || data["env"] != "prod" || data["person"] != "alice" || data["run"] != float64(r.ID) {
		t.Errorf("data = %v, want the audit entry of the request", data)
	}
}

// A receiver that answers 503 for a while, then is not there at all (the
// deliverer restarting meanwhile), then comes back, gets every event once
// and in order; step output is not sent.
func TestDownReceiverGetsEveryEventOnceInOrder(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t)
	rcv.setAnswer(func(int, string) (int, string) { return http.StatusServiceUnavailable, "" })
	ep := Endpoint{URL: rcv.url(), Secret: "s"}
	_, stop := run(t, s, nil, zerolog.Nop(), ep)

	a, b := newRun(t, s, "web", "prod"), newRun(t, s, "api", "prod")
	move(t, s, a, runbook.StateChecklist)
	eventually(t, "retries against the 503s", func() bool { n, _ := rcv.stats(); return n >= 3 })
	rcv.down()
	move(t, s, b, runbook.StateChecklist)
	stop()
	move(t, s, a, runbook.StateCancelled)
	run(t, s, nil, zerolog.Nop(), ep)
	move(t, s, b, runbook.StateCancelled)

	rcv.setAnswer(nil)
	rcv.up()
	want := outboxIDs(t, s)
	if len(want) != 6 {
		t.Fatalf("outbox %v: want 2 requests and 4 transitions", want)
	}
	eventually(t, "every event delivered", func() bool { return len(rcv.ids()) >= len(want) })
	if got := rcv.ids(); !slices.Equal(got, want) {
		t.Errorf("delivered %v\nwant      %v (each once, in order)", got, want)
	}
}

func TestFilters(t *testing.T) {
	s := openStore(t)
	all, some := newReceiver(t), newReceiver(t)
	run(t, s, nil, zerolog.Nop(), Endpoint{URL: all.url(), Secret: "s"},
		Endpoint{URL: some.url(), Secret: "s", Events: []string{runbook.EvTransition, runbook.AuditLock}, Apps: []string{"web"}, Envs: []string{"prod"}})

	web, api, stg := newRun(t, s, "web", "prod"), newRun(t, s, "api", "prod"), newRun(t, s, "web", "staging")
	for _, r := range []*runbook.Run{web, api, stg} {
		move(t, s, r, runbook.StateChecklist)
	}
	ctx := context.Background()
	for _, l := range []runbook.Lock{{App: "all", Env: "prod", Holder: alice, Since: t0}, {App: "api", Env: "prod", Holder: alice, Since: t0}} {
		if err := s.Hold(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	want := outboxIDs(t, s)
	eventually(t, "everything to the endpoint without filters", func() bool { return len(all.ids()) == len(want) })
	eventually(t, "the filtered endpoint's two events", func() bool { return len(some.ids()) >= 2 })
	_, taken := some.stats()
	var got []string
	for _, d := range taken {
		var ev Event
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s/%s", ev.Data.Event, ev.Data.App, ev.Data.Env))
	}
	if w := []string{"transition web/prod", "lock all/prod"}; !slices.Equal(got, w) {
		t.Errorf("filtered endpoint got %v, want %v", got, w)
	}
}

// A 4xx other than 408 and 429 says the endpoint will never take the
// event: it is logged and skipped, and the next goes on.
func TestRefusedEventIsSkipped(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t)
	refused := runbook.RunEventID(1, 1)
	rcv.setAnswer(func(_ int, id string) (int, string) {
		if id == refused {
			return http.StatusUnprocessableEntity, ""
		}
		return http.StatusNoContent, ""
	})
	var logs logtest.Buffer
	d, _ := run(t, s, prometheus.NewRegistry(), zerolog.New(&logs), Endpoint{URL: rcv.url(), Secret: "do-not-log-me"})
	r := newRun(t, s, "web", "prod")
	move(t, s, r, runbook.StateChecklist)
	eventually(t, "the transition delivered", func() bool { return len(rcv.ids()) == 1 })
	if got := rcv.ids(); got[0] != runbook.RunEventID(r.ID, 2) {
		t.Errorf("delivered %v, want the transition", got)
	}
	host := rcv.addr
	// The deliverer counts a delivery once the receiver has answered.
	eventually(t, "the delivery counted", func() bool {
		return value(t, d.m.deliveries.WithLabelValues(host, resultDelivered)) == 1
	})
	if got := value(t, d.m.deliveries.WithLabelValues(host, resultRefused)); got != 1 {
		t.Errorf("deliveries{result=refused} = %v, want 1", got)
	}
	out := logs.String()
	if !containsAll(out, `"status":422`, `"endpoint":"`+host+`"`) {
		t.Errorf("log does not say which endpoint refused with which status:\n%s", out)
	}
	if containsAny(out, "do-not-log-me", "token-in-path") {
		t.Errorf("the log holds the secret or the URL's path:\n%s", out)
	}
}

// Retry-After is honoured even when the backoff would wait far longer.
func TestRetryAfterIsHonoured(t *testing.T) {
	s := openStore(t)
	rcv := newReceiver(t)
	rcv.setAnswer(func(n int, _ string) (int, string) {
		if n == 1 {
			return http.StatusTooManyRequests, "0"
		}
		return http.StatusOK, ""
	})
	d, err := New(Options{Outbox: s, Endpoints: []Endpoint{{URL: rcv.url(), Secret: "s"}}, Source: "shipmate/test", Now: now,
		MinBackoff: time.Hour, MaxBackoff: time.Hour, Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	newRun(t, s, "web", "prod")
	eventually(t, "delivery after a 429 with Retry-After: 0", func() bool { return len(rcv.ids()) == 1 })
}

// A new endpoint starts at the end of the outbox; what it was given is
// pruned.
func TestNewEndpointStartsAtTheEndAndDeliveredIsPruned(t *testing.T) {
	s := openStore(t)
	newRun(t, s, "web", "prod")
	rcv := newReceiver(t)
	reg := prometheus.NewRegistry()
	d, err := New(Options{Outbox: s, Endpoints: []Endpoint{{URL: rcv.url(), Secret: "s"}}, Source: "shipmate/test", Now: now,
		Registerer: reg, Poll: 5 * time.Millisecond, PruneEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	late := newRun(t, s, "api", "prod")
	go d.Run(ctx)
	eventually(t, "the later run's request delivered", func() bool { return len(rcv.ids()) == 1 })
	if got := rcv.ids(); got[0] != runbook.RunEventID(late.ID, 1) {
		t.Errorf("delivered %v, want only the event after the endpoint was added", got)
	}
	eventually(t, "the outbox pruned", func() bool { return len(outboxIDs(t, s)) == 0 })
	if mfs, err := reg.Gather(); err != nil || !slices.ContainsFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == "shipmate_webhook_outbox_backlog" }) {
		t.Errorf("no backlog gauge registered (%v)", err)
	}
	eventually(t, "the backlog gauge at 0", func() bool { return value(t, d.m.backlog.WithLabelValues(rcv.addr)) == 0 })
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func containsAny(s string, subs ...string) bool {
	return slices.ContainsFunc(subs, func(sub string) bool { return strings.Contains(s, sub) })
}

// value reads a counter's or a gauge's value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}
