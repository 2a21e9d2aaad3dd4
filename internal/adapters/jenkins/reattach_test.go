package jenkins

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/jenkins/jenkinstest"
	"shipmate/internal/runbook"
)

// plug is a transport whose plug can be pulled: from then on nothing
// reaches Jenkins, as when the process dies.
type plug struct {
	pulled atomic.Bool
	next   http.RoundTripper
}

func (p *plug) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.pulled.Load() {
		return nil, errors.New("the process is gone")
	}
	return p.next.RoundTrip(r)
}

func TestReattachAfterRestart(t *testing.T) {
	e := newTestEnv(t)
	var first strings.Builder
	for i := 1; i <= 30; i++ {
		first.WriteString("old line " + strconv.Itoa(i) + "\n")
	}
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{
		Chunks: []string{first.String(), "after the restart\n", "done\n"}, Result: "SUCCESS", Estimated: time.Minute,
	}})

	// The first bot starts the build, saves its number, and dies.
	pl := &plug{next: http.DefaultTransport}
	c1 := e.client(t, ServerConfig{URL: e.f.URL, User: testUser, Token: testToken})
	c1.http.Transport = pl
	x1, err := NewExecutor(c1, billingConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := &saver{}
	p1 := newProgress()
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	done := runAsync(func() error {
		return x1.Deploy(ctx1, testJob(s), func(l string) {
			if l == "old line 30" {
				// The bot dies with the build's first lines shown.
				pl.pulled.Store(true)
				cancel1()
			}
			p1.add(l)
		})
	})
	if err := within(t, done, 3*time.Second); err == nil || !strings.Contains(err.Error(), "could not stop") {
		t.Fatalf("the first bot's Deploy returned %v; want it unable to stop the build", err)
	}
	if diff := cmp.Diff([]string{"1"}, s.get()); diff != "" {
		t.Fatalf("saved handles (-want +got):\n%s", diff)
	}

	// The next bot re-attaches by the saved number, with a new executor.
	x2 := e.executor(t, billingConfig())
	p2 := newProgress()
	j := testJob(nil)
	j.Handle = s.get()[0]
	if err := x2.Reattach(context.Background(), j, p2.add); err != nil {
		t.Fatalf("Reattach: %v\n%s", err, p2.text())
	}
	got := p2.lines()
	if got[0] != "billing: re-attaching to Jenkins build deploy/billing #1 after a restart" {
		t.Errorf("first line = %q", got[0])
	}
	// Its first look finds the 30 old lines and the one written since (the
	// fake writes a chunk per status request): the last 20 are shown.
	want := []string{"… (11 earlier console lines not repeated)"}
	want = append(want, strings.Split(strings.TrimSuffix(first.String(), "\n"), "\n")[11:]...)
	want = append(want, "after the restart", "done", "Finished: SUCCESS")
	if diff := cmp.Diff(want, consoleLines(p2)); diff != "" {
		t.Errorf("console after re-attaching (-want +got):\n%s", diff)
	}
	if n := len(e.f.Triggers("deploy/billing")); n != 1 {
		t.Errorf("the job was triggered %d times; want once", n)
	}
}

func TestReattachWithoutHandle(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams})
	x := e.executor(t, billingConfig())
	err := x.Reattach(context.Background(), testJob(nil), nil)
	want := "Shipmate stopped before Jenkins gave the build a number; check the job's queue and builds (" + e.f.URL + "/job/deploy/job/billing/)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Reattach error = %v; want it to start with %q", err, want)
	}
	if !errors.Is(err, runbook.ErrOutcomeUnknown) {
		t.Errorf("Reattach error = %v; want the outcome unknown, for the run to end as interrupted", err)
	}
	if n := len(e.f.Requests()); n != 0 {
		t.Errorf("Reattach made %d requests; want none", n)
	}
}

func TestReattachToMissingBuild(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams})
	x := e.executor(t, billingConfig())
	j := testJob(nil)
	j.Handle = "99"
	err := x.Reattach(context.Background(), j, nil)
	if err == nil || !strings.Contains(err.Error(), "Jenkins has no build deploy/billing #99") {
		t.Errorf("Reattach error = %v", err)
	}
	j.Handle = "queue-17"
	if err := x.Reattach(context.Background(), j, nil); err == nil || !strings.Contains(err.Error(), `"queue-17" is not a build number`) {
		t.Errorf("Reattach error = %v", err)
	}
}
