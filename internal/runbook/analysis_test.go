package runbook_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// fakeAnalyzer answers the analysis's queries with QueryFunc and records
// them.
type fakeAnalyzer struct {
	mu        sync.Mutex
	QueryFunc func(q string, at time.Time) (float64, bool, error)
	queries   []string
}

func (f *fakeAnalyzer) Query(_ context.Context, q string, at time.Time) (float64, bool, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	fn := f.QueryFunc
	f.mu.Unlock()
	return fn(q, at)
}

// Queries returns the queries asked so far.
func (f *fakeAnalyzer) Queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

// metrics is what the fake Prometheus holds: each version's error ratio
// and p95 latency. A version missing has no data.
type metrics struct {
	mu      sync.Mutex
	errors  map[string]float64
	latency map[string]float64
	down    error
}

func (m *metrics) set(version string, errRatio, p95 float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errors[version], m.latency[version] = errRatio, p95
}

func (m *metrics) fail(err error) { m.mu.Lock(); m.down = err; m.mu.Unlock() }

// query answers a query by the version its label names.
func (m *metrics) query(q string, _ time.Time) (float64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down != nil {
		return 0, false, m.down
	}
	_, rest, _ := strings.Cut(q, `version="`)
	version, _, _ := strings.Cut(rest, `"`)
	table := m.latency
	if strings.HasPrefix(q, "sum(rate(http_requests_total") {
		table = m.errors
	}
	v, ok := table[version]
	return v, ok, nil
}

const (
	errorsQuery  = `sum(rate(http_requests_total{app="{app}",env="{env}",version="{version}",code=~"5.."}[2m])) / sum(rate(http_requests_total{app="{app}",env="{env}",version="{version}"}[2m]))`
	latencyQuery = `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}",env="{env}",version="{version}"}[5m])))`
)

// analysed is a harness whose production deployments are watched by two
// metric checks for 5 minutes, measured every minute, 3 failures in a row
// rolling back; the checks confirm production's two validation items.
func analysed(t *testing.T) (*harness, *metrics, *fakeAnalyzer) {
	t.Helper()
	m := &metrics{errors: map[string]float64{}, latency: map[string]float64{}}
	fa := &fakeAnalyzer{QueryFunc: m.query}
	h := newHarnessWith(t, newExec(), func(c *rb.Config) { c.Analyzer = fa })
	one := 0.01
	h.Policy.Analysis = map[string]rb.MetricCheck{
		"errors":  {Query: errorsQuery, Max: &one, MaxVsBaseline: 2, Format: rb.FormatPercent},
		"latency": {Label: "p95", Query: latencyQuery, MaxVsBaseline: 1.5, Format: rb.FormatMillis},
	}
	h.Policy.Validation = map[string]string{"errors": "No error spikes in logs", "latency": "Response times normal"}
	prod := &h.Policy.Envs[2]
	prod.Monitor = 5 * time.Minute
	prod.Validation = []string{"errors", "latency"}
	prod.Analysis = rb.AnalysisRule{Checks: []string{"errors", "latency"}, Every: time.Minute, FailuresToRollback: 3}
	return h, m, fa
}

// minute moves the clock on a minute and runs the timers.
func minute(h *harness) {
	h.Clock.Add(time.Minute)
	h.Tick()
}

// analysisLine is the live line on run id's message.
func analysisLine(h *harness, id uint64) string {
	h.T.Helper()
	for _, f := range h.Chat.Message(h.Run(id).Origin.MessageRef).Fields {
		if f.Label == "Analysis" {
			return f.Value
		}
	}
	return ""
}

// A clean deploy: the baselines are taken before the deploy step with
// what ran before; the message carries a live line edited at each
// measurement; when the window ends the checks confirm their items "by
// Shipmate" with the figures, which makes the run a success; nobody can
// tick them by hand.
func TestAnalysisConfirmsValidationOfACleanDeploy(t *testing.T) {
	h, m, fa := analysed(t)
	m.set("v1", 0.002, 0.170)
	m.set("v2", 0.003, 0.180)
	cleanRun(h, "v1")

	// While the deploy runs, the message shows the baselines.
	release := h.Exec.Hold(runbooktest.StepDeploy, "production", "v2")
	h.DeployTo("v2", "staging")
	h.Settle()
	id := h.Must("bob", "/deploy demo v2 production")
	h.TickAll("bob", id)
	if _, err := h.Engine.Act(context.Background(), runbooktest.User("rita"), id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	<-h.Exec.Entered()
	if got, want := analysisLine(h, id), "before the deploy: errors 0.2% · p95 170 ms"; got != want {
		t.Errorf("live line while deploying %q, want %q", got, want)
	}
	release()
	h.Settle()
	h.WantState(id, rb.StateMonitoring)
	var baselines []string
	for _, q := range fa.Queries() {
		if strings.Contains(q, `env="production"`) {
			baselines = append(baselines, q)
		}
	}
	if len(baselines) < 2 || !strings.Contains(baselines[len(baselines)-1], `{app="demo",env="production",version="v1"}`) {
		t.Fatalf("queries %q, want the baseline of v2 taken on v1, what ran before", baselines)
	}
	if got, want := analysisLine(h, id), "monitoring 0/5 min · errors pending (baseline 0.2%) · p95 pending (baseline 170 ms)"; got != want {
		t.Errorf("live line %q, want %q", got, want)
	}
	if err := h.Act("bob", id, rb.ButtonTick, "errors"); rb.ErrorCode(err) != rb.EPolicy || !strings.Contains(err.Error(), "confirmed by Shipmate's metric analysis") {
		t.Errorf("ticking an analysed item by hand: %v, want refused", err)
	}
	minute(h)
	minute(h)
	if got, want := analysisLine(h, id), "monitoring 2/5 min · errors 0.3% (baseline 0.2%) · p95 180 ms (baseline 170 ms)"; got != want {
		t.Errorf("live line %q, want %q", got, want)
	}
	minute(h)
	minute(h)
	h.WantState(id, rb.StateMonitoring)
	minute(h)
	r := h.WantState(id, rb.StateSucceeded)
	if !containsAll(r.Note, "demo v2 is live in production", "validated by Shipmate") {
		t.Errorf("note %q", r.Note)
	}
	for _, it := range r.Validation {
		if !it.Done || it.By == nil || it.By.String() != "Shipmate" || !it.Auto {
			t.Errorf("item %s: %+v, want confirmed by Shipmate", it.Key, it)
		}
	}
	if d := r.Validation[0].Detail; !containsAll(d, "errors 0.3% (baseline 0.2%)", "max 1%, at most 2× the baseline", "the last 3 conclusive measurements passed (4 of 4 conclusive, 0 failed)") {
		t.Errorf("errors item detail %q", d)
	}
	if d := r.Validation[1].Detail; !containsAll(d, "p95 180 ms (baseline 170 ms)", "at most 1.5× the baseline") {
		t.Errorf("latency item detail %q", d)
	}
	h.Settle()
	msg := h.Chat.Message(r.Origin.MessageRef)
	if len(msg.Items) != 2 || !msg.Items[0].Done || msg.Items[0].By != "Shipmate" || msg.Items[0].Detail == "" {
		t.Errorf("final message items %+v, want both confirmed by Shipmate with figures", msg.Items)
	}
	if got := analysisLine(h, id); got != "errors 0.3% (baseline 0.2%) · p95 180 ms (baseline 170 ms)" {
		t.Errorf("final live line %q", got)
	}
}

// cleanRun takes version v through staging to production with clean
// metrics, to a success.
func cleanRun(h *harness, v string) {
	h.T.Helper()
	id := monitored(h, v)
	for range 5 {
		minute(h)
	}
	h.WantState(id, rb.StateSucceeded)
}

// An error spike after the deploy: three failing measurements in a row
// (an inconclusive one between them neither counts nor breaks the run)
// roll the deployment back, with the figures in the run's note.
func TestAnalysisRollsBackAnErrorSpike(t *testing.T) {
	h, m, _ := analysed(t)
	m.set("v1", 0.002, 0.170)
	m.set("v2", 0.05, 0.175)
	cleanRun(h, "v1")

	id := monitored(h, "v2")
	minute(h)
	if got, want := analysisLine(h, id), "monitoring 1/5 min · errors 5% (baseline 0.2%) ✗ 1 in a row · p95 175 ms (baseline 170 ms)"; got != want {
		t.Errorf("live line %q, want %q", got, want)
	}
	m.fail(errors.New("connection refused"))
	minute(h)
	if got := analysisLine(h, id); !strings.Contains(got, "errors inconclusive (the query failed) (baseline 0.2%)") {
		t.Errorf("live line %q, want the inconclusive measurement shown", got)
	}
	m.fail(nil)
	minute(h)
	h.WantState(id, rb.StateMonitoring)
	if h.Exec.Rollbacks() != 0 {
		t.Fatal("rolled back after 2 failures")
	}
	minute(h)
	h.Settle()
	r := h.WantState(id, rb.StateRolledBack)
	if !containsAll(r.Note, "rolled back to v1") || h.Exec.Rollbacks() != 1 {
		t.Errorf("note %q, %d rollbacks", r.Note, h.Exec.Rollbacks())
	}
	found := false
	for _, ev := range h.Events(id) {
		if ev.To == rb.StateFailed && containsAll(ev.Detail, "monitoring failed: analysis: errors 5% (baseline 0.2%), above its max of 1% in 3 conclusive measurements in a row") {
			found = true
		}
	}
	if !found {
		t.Errorf("no failure naming the figures in the trail: %+v", h.Events(id))
	}
}

// A baseline that is no use (no data, or 0) is no bound: the deploy is
// judged against max alone, and a check with no max passes.
func TestAnalysisWithoutBaselineJudgesAgainstMaxOnly(t *testing.T) {
	h, m, _ := analysed(t)
	m.set("v1", 0.002, 0.170)
	cleanRun(h, "v1")
	m.mu.Lock()
	delete(m.errors, "v1") // no traffic before the deploy
	m.latency["v1"] = 0
	m.mu.Unlock()
	m.set("v2", 0.008, 0.9) // far above any multiple of nothing, under max

	id := monitored(h, "v2")
	minute(h)
	if got, want := analysisLine(h, id), "monitoring 1/5 min · errors 0.8% (no baseline: no data) · p95 900 ms (baseline 0 ms)"; got != want {
		t.Errorf("live line %q, want %q", got, want)
	}
	for range 4 {
		minute(h)
	}
	r := h.WantState(id, rb.StateSucceeded)
	for _, it := range r.Validation {
		if !it.Done {
			t.Errorf("item %s not confirmed: %s", it.Key, it.Detail)
		}
	}

	m.set("v3", 0.02, 0.2) // above max
	id = monitored(h, "v3")
	for range 3 {
		minute(h)
	}
	h.Settle()
	h.WantState(id, rb.StateRolledBack)
}

// Prometheus erroring makes every measurement inconclusive: shown as such,
// never a pass nor a failure. The window ends with the items open and the
// run monitored, the channel told why; once Prometheus answers again, the
// checks confirm the items.
func TestAnalysisInconclusiveKeepsTheRunMonitored(t *testing.T) {
	h, m, fa := analysed(t)
	m.set("v1", 0.002, 0.170)
	cleanRun(h, "v1")
	m.set("v2", 0.002, 0.170)
	m.fail(errors.New(`Post "http://prometheus:9090/api/v1/query": dial tcp: connection refused`))

	id := monitored(h, "v2")
	for range 7 {
		minute(h)
	}
	r := h.WantState(id, rb.StateMonitoring)
	if !r.AwaitingValidation || h.Exec.Rollbacks() != 0 {
		t.Fatalf("awaiting validation %v, %d rollbacks", r.AwaitingValidation, h.Exec.Rollbacks())
	}
	for _, it := range r.Validation {
		if it.Done || !containsAll(it.Detail, "inconclusive: the query failed", "connection refused", "in all 7 measurements so far") {
			t.Errorf("item %s: done %v, detail %q; want open and inconclusive", it.Key, it.Done, it.Detail)
		}
	}
	if got, want := analysisLine(h, id), "window over · errors inconclusive (the query failed) (no baseline: the query failed) · p95 inconclusive (the query failed) (no baseline: the query failed)"; got != want {
		t.Errorf("live line %q, want %q", got, want)
	}
	told := h.Chat.Notices()
	if len(told) != 1 || !containsAll(told[0], "still has 2 open", "Shipmate's analysis has not confirmed “No error spikes in logs”: errors inconclusive (the query failed)") {
		t.Errorf("notices %q, want one saying what the analysis could not confirm", told)
	}

	m.fail(nil)
	asked := len(fa.Queries())
	minute(h)
	minute(h)
	h.WantState(id, rb.StateMonitoring)
	minute(h)
	r = h.WantState(id, rb.StateSucceeded)
	if !containsAll(r.Note, "its post-deployment validation is complete; validated by Shipmate") || len(fa.Queries()) != asked+6 {
		t.Errorf("note %q after %d queries", r.Note, len(fa.Queries())-asked)
	}
}

// With on_failure: hold, failing checks fail the run without rolling it
// back, as a failed health check does: the rollback owners are told in
// the channel, with a Roll back button that works.
func TestAnalysisHoldNotifiesRollbackOwners(t *testing.T) {
	h, m, _ := analysed(t)
	h.Policy.Apps["demo"] = rb.App{Name: "demo", Executor: "fake", HoldOnFailure: true}
	m.set("v1", 0.002, 0.170)
	cleanRun(h, "v1")
	m.set("v2", 0.002, 0.5)

	id := monitored(h, "v2")
	for range 4 {
		minute(h)
	}
	r := h.WantState(id, rb.StateFailed)
	if h.Exec.Rollbacks() != 0 || !containsAll(r.Note, "monitoring failed: analysis: p95 500 ms (baseline 170 ms), above 1.5× its baseline", "left as is for a human (on_failure: hold)") {
		t.Fatalf("note %q, %d rollbacks", r.Note, h.Exec.Rollbacks())
	}
	var notices []rb.Message
	for _, p := range h.Chat.Posts() {
		if p.Status == "" {
			notices = append(notices, p)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("notices %+v, want one", notices)
	}
	n := notices[0]
	if !containsAll(n.Text, "the post-deployment analysis fails: p95 500 ms (baseline 170 ms), above 1.5× its baseline in 3 conclusive measurements in a row",
		"incident-response or release-manager, roll it back to v1 with the button below when ready") {
		t.Errorf("notice %q", n.Text)
	}
	if len(n.Buttons) != 1 || n.Buttons[0].Action != rb.ButtonRollback || n.Buttons[0].RunID != id {
		t.Fatalf("notice buttons %+v, want Roll back of run %d", n.Buttons, id)
	}
	if err := h.Act("bob", id, n.Buttons[0].Action, ""); rb.ErrorCode(err) != rb.EForbidden {
		t.Errorf("Roll back by bob, no rollback owner: %v", err)
	}
	rep, err := h.Engine.Act(context.Background(), runbooktest.User("ivan"), n.Buttons[0].RunID, n.Buttons[0].Action, "")
	if err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.WantState(rep.RunID, rb.StateRolledBack)
	if h.Exec.Rollbacks() != 1 || h.Exec.LastJob().Version != "v1" {
		t.Errorf("%d rollbacks, want 1", h.Exec.Rollbacks())
	}
}
