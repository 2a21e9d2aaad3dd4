package jenkins

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/jenkins/jenkinstest"
	"shipmate/internal/runbook"
)

var billingParams = []string{"ACTION", "APP", "ENV", "RUN", "VERSION"}

func billingConfig() JobConfig {
	return JobConfig{
		Job:            "deploy/billing",
		Params:         map[string]string{"APP": "{app}", "VERSION": "{version}", "ENV": "{env}", "RUN": "{run}", "ACTION": "deploy"},
		RollbackParams: map[string]string{"ACTION": "rollback"},
	}
}

// consoleLines returns the lines that are not the executor's own.
func consoleLines(p *progress) []string {
	var out []string
	for _, l := range p.lines() {
		if !strings.HasPrefix(l, "billing: ") && !strings.HasPrefix(l, "[saved") {
			out = append(out, l)
		}
	}
	return out
}

func TestDeploySucceeds(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{
		Name: "deploy/billing", Params: billingParams, QueueDelay: 3,
		Why: []string{"In the quiet period. Expires in 4.9 sec", "In the quiet period. Expires in 3.9 sec", "Waiting for next available executor"},
		Script: jenkinstest.Script{
			Chunks: []string{
				"Started by user bob\nRunning as SYSTEM\n",
				"Deploying billing 1.2 to prod\n\x1b[8mha:////4AAAAB+LCAAAAAAAAP9b\x1b[0m[Pipeline] sh\n+ ./deploy.sh",
				" --version 1.2\r\n\x1b[32mrollout complete\x1b[0m\n",
				"",
				"",
			},
			Result: "SUCCESS", Estimated: 2 * time.Minute,
		},
	})
	x := e.executor(t, billingConfig())
	s := &saver{}
	p := newProgress()
	j := testJob(nil)
	j.Save = func(h string) error {
		p.add("[saved " + h + "]")
		return s.save(h)
	}
	if err := x.Deploy(context.Background(), j, p.add); err != nil {
		t.Fatalf("Deploy: %v\n%s", err, p.text())
	}

	if diff := cmp.Diff([]string{"1"}, s.get()); diff != "" {
		t.Errorf("saved handles (-want +got):\n%s", diff)
	}
	want := []string{
		"Started by user bob", "Running as SYSTEM", "Deploying billing 1.2 to prod", "[Pipeline] sh",
		"+ ./deploy.sh --version 1.2", "rollout complete", "Finished: SUCCESS",
	}
	if diff := cmp.Diff(want, consoleLines(p)); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	if saved, first := p.index("[saved 1]"), p.index("Started by user bob"); saved < 0 || saved > first {
		t.Errorf("the build number was saved at line %d, after the console began (line %d)", saved, first)
	}
	buildURL := e.f.URL + "/job/deploy/job/billing/1/"
	for _, line := range []string{
		"billing: starting Jenkins job deploy/billing with ACTION, APP=billing, ENV=prod, RUN=7, VERSION=1.2",
		"billing: queued in Jenkins as item 17",
		"billing: waiting in Jenkins's queue: In the quiet period. Expires in 4.9 sec",
		"billing: waiting in Jenkins's queue: Waiting for next available executor",
		"billing: Jenkins build #1 started: " + buildURL,
		"billing: build #1 finished: SUCCESS after 5s",
	} {
		if p.index(line) < 0 {
			t.Errorf("no progress line %q in:\n%s", line, p.text())
		}
	}
	if p.has("3.9 sec") {
		t.Errorf("a countdown in the queue reason made a new line:\n%s", p.text())
	}
	running := regexp.MustCompile(`^billing: build #1 running, \d+% of the estimated 2m0s$`)
	n := 0
	for _, l := range p.lines() {
		if running.MatchString(l) {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no progress line like %q in:\n%s", running, p.text())
	}

	// The parameters went in the form body, filled in, not in the URL.
	if diff := cmp.Diff([]url.Values{{"APP": {"billing"}, "VERSION": {"1.2"}, "ENV": {"prod"}, "RUN": {"7"}, "ACTION": {"deploy"}}},
		e.f.Triggers("deploy/billing")); diff != "" {
		t.Errorf("build parameters (-want +got):\n%s", diff)
	}
	if e.f.Seen("POST /job/deploy/job/billing/buildWithParameters") != 1 || e.f.Seen("POST /job/deploy/job/billing/buildWithParameters?") != 0 {
		t.Errorf("want one POST to buildWithParameters without a query; requests:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
}

func TestRollbackMergesRollbackParams(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"rolling back\n"}, Result: "SUCCESS"}})
	x := e.executor(t, billingConfig())
	j := testJob(nil)
	// As the engine builds it: Version is where the rollback returns to.
	j.Action, j.Version, j.PreviousVersion = runbook.ActionRollback, "1.1", "1.2"
	if err := x.Rollback(context.Background(), j, nil); err != nil {
		t.Fatal(err)
	}
	want := []url.Values{{"APP": {"billing"}, "VERSION": {"1.1"}, "ENV": {"prod"}, "RUN": {"7"}, "ACTION": {"rollback"}}}
	if diff := cmp.Diff(want, e.f.Triggers("deploy/billing")); diff != "" {
		t.Errorf("rollback parameters (-want +got):\n%s", diff)
	}
}

func TestDeployFailureStreamsTheTailFirst(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{
		Chunks: []string{"Deploying\n", "ERROR: migration 42 failed\n"},
		Result: "FAILURE", Estimated: time.Minute,
		// Jenkins says the build ended before the console has its last lines.
		Tail: "Build step 'Execute shell' marked build as failure\n", TailLag: 2,
	}})
	x := e.executor(t, billingConfig())
	p := newProgress()
	err := x.Deploy(context.Background(), testJob(nil), p.add)
	if err == nil {
		t.Fatal("Deploy succeeded; want the build's failure")
	}
	for _, want := range []string{
		"Jenkins build deploy/billing #1 ended FAILURE",
		"Build step 'Execute shell' marked build as failure",
		e.f.URL + "/job/deploy/job/billing/1/console",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	want := []string{"Deploying", "ERROR: migration 42 failed", "Build step 'Execute shell' marked build as failure", "Finished: FAILURE"}
	if diff := cmp.Diff(want, consoleLines(p)); diff != "" {
		t.Errorf("console when Deploy returned (-want +got):\n%s", diff)
	}
}

func TestUnstable(t *testing.T) {
	for _, tc := range []struct {
		unstable string
		wantErr  bool
	}{{"", true}, {"fail", true}, {"succeed", false}} {
		t.Run("unstable="+tc.unstable, func(t *testing.T) {
			e := newTestEnv(t)
			e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"3 tests failed\n"}, Result: "UNSTABLE"}})
			cfg := billingConfig()
			cfg.Unstable = tc.unstable
			x := e.executor(t, cfg)
			p := newProgress()
			err := x.Deploy(context.Background(), testJob(nil), p.add)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "ended UNSTABLE: 3 tests failed") {
					t.Errorf("Deploy error = %v; want the build ended UNSTABLE", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if !p.has("billing: build #1 is UNSTABLE, which counts as success for billing (unstable: succeed)") {
				t.Errorf("no line saying UNSTABLE counts as success:\n%s", p.text())
			}
		})
	}
}

func TestAbortedInJenkins(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"x\n"}, Result: "ABORTED"}})
	x := e.executor(t, billingConfig())
	err := x.Deploy(context.Background(), testJob(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "ended ABORTED (it was stopped in Jenkins)") {
		t.Errorf("Deploy error = %v; want the build ended ABORTED", err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, QueueDelay: 1 << 30,
		Why: []string{"Waiting for next available executor on ‘linux’"}, Script: jenkinstest.Script{Result: "SUCCESS"}})
	x := e.executor(t, billingConfig())
	p := newProgress()
	s := &saver{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(func() error { return x.Deploy(ctx, testJob(s), p.add) })
	p.await(t, "waiting in Jenkins's queue: Waiting for next available executor")
	began := time.Now()
	cancel()
	err := within(t, done, 2*time.Second)
	if took := time.Since(began); took > time.Second {
		t.Errorf("Deploy returned %s after the cancel", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if err == nil || !strings.Contains(err.Error(), "cancelled while queued: Shipmate removed queue item 17 of deploy/billing from Jenkins's queue") {
		t.Errorf("error = %v", err)
	}
	if e.f.Seen("POST /queue/cancelItem?id=17") != 1 {
		t.Errorf("the queue item was not cancelled; requests:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
	if len(s.get()) != 0 || e.f.Started("deploy/billing") != 0 {
		t.Errorf("a build was saved (%q) or started", s.get())
	}
}

func TestCancelWhileBuilding(t *testing.T) {
	e := newTestEnv(t)
	chunks := make([]string, 100000)
	for i := range chunks {
		chunks[i] = "working\n"
	}
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: chunks, Result: "SUCCESS"}})
	x := e.executor(t, billingConfig())
	p := newProgress()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(func() error { return x.Deploy(ctx, testJob(nil), p.add) })
	p.await(t, "working")
	cancel()
	err := within(t, done, 2*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if err == nil || !strings.Contains(err.Error(), "cancelled: Shipmate stopped Jenkins build deploy/billing #1 ("+e.f.URL+"/job/deploy/job/billing/1/)") {
		t.Errorf("error = %v", err)
	}
	if e.f.Seen("POST /job/deploy/job/billing/1/stop") != 1 {
		t.Errorf("the build was not stopped; requests:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
	if b, _ := e.f.Build("deploy/billing", 1); !b.Stopped {
		t.Error("the fake build is not stopped")
	}
}

func TestJenkinsDownMidBuild(t *testing.T) {
	for name, fault := range map[string]jenkinstest.Fault{"close": jenkinstest.Drop, "503": jenkinstest.Starting} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t)
			e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{
				Chunks: []string{"one\n", "two\n", "three\n", "four\n"}, Result: "SUCCESS",
				DownAfter: 2, Down: jenkinstest.Outage{Requests: 8, Fault: fault},
			}})
			x := e.executor(t, billingConfig())
			p := newProgress()
			if err := x.Deploy(context.Background(), testJob(nil), p.add); err != nil {
				t.Fatalf("Deploy: %v\n%s", err, p.text())
			}
			if diff := cmp.Diff([]string{"one", "two", "three", "four", "Finished: SUCCESS"}, consoleLines(p)); diff != "" {
				t.Errorf("console (-want +got):\n%s", diff)
			}
			if !p.has("still following build #1, trying again") || !p.has("billing: Jenkins answers again; following build #1") {
				t.Errorf("the outage is not reported:\n%s", p.text())
			}
			if !strings.Contains(e.logs.String(), "jenkins: not answering; retrying") {
				t.Errorf("the outage is not logged:\n%s", e.logs)
			}
		})
	}
}

func TestDownWhileQueued(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, QueueDelay: 3, Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
	x := e.executor(t, billingConfig())
	p := newProgress()
	done := runAsync(func() error {
		return x.Deploy(context.Background(), testJob(nil), func(l string) {
			if strings.Contains(l, "queued in Jenkins as item") {
				e.f.Down(jenkinstest.Outage{Requests: 6, Fault: jenkinstest.Starting})
			}
			p.add(l)
		})
	})
	if err := within(t, done, 5*time.Second); err != nil {
		t.Fatalf("Deploy: %v\n%s", err, p.text())
	}
	if !p.has("Jenkins is getting ready to work; still waiting for queue item 17, trying again") {
		t.Errorf("the outage is not reported:\n%s", p.text())
	}
}

func TestSaveFailureDoesNotStopTheBuild(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
	x := e.executor(t, billingConfig())
	p := newProgress()
	j := testJob(nil)
	j.Save = func(string) error { return errors.New("disk full") }
	if err := x.Deploy(context.Background(), j, p.add); err != nil {
		t.Fatal(err)
	}
	if !p.has("billing: could not record build #1 for re-attaching after a restart: disk full") {
		t.Errorf("the save failure is not reported:\n%s", p.text())
	}
}

func TestJobWithoutParameters(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
	x := e.executor(t, JobConfig{Job: "deploy/billing"})
	if err := x.Deploy(context.Background(), testJob(nil), nil); err != nil {
		t.Fatal(err)
	}
	if e.f.Seen("POST /job/deploy/job/billing/build") != 1 {
		t.Errorf("want a POST to /build; requests:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
}

func TestParameterizedJobWithoutParams(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
	x := e.executor(t, JobConfig{Job: "deploy/billing"})
	if err := x.Deploy(context.Background(), testJob(nil), nil); err != nil {
		t.Fatal(err)
	}
	// Jenkins fills in the defaults.
	if e.f.Seen("POST /job/deploy/job/billing/buildWithParameters") != 1 {
		t.Errorf("want a POST to /buildWithParameters; requests:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
}

func TestJobNameIsEscaped(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing api", Params: []string{"VERSION"}, Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
	x := e.executor(t, JobConfig{Job: "deploy/billing api", Params: map[string]string{"VERSION": "{version}"}})
	if err := x.Deploy(context.Background(), testJob(nil), nil); err != nil {
		t.Fatal(err)
	}
}

// The issue's own example: rollback_params {ACTION: rollback, VERSION:
// "{previous_version}"} deploys the previous, good version; the one being
// replaced is {replaced_version}.
func TestRollbackParamsPreviousVersionIsTheOneToReturnTo(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: append(billingParams, "FROM"), Script: jenkinstest.Script{Chunks: []string{"rolling back\n"}, Result: "SUCCESS"}})
	cfg := billingConfig()
	cfg.RollbackParams = map[string]string{"ACTION": "rollback", "VERSION": "{previous_version}", "FROM": "{replaced_version}"}
	x := e.executor(t, cfg)
	j := testJob(nil)
	j.Action, j.Version, j.PreviousVersion = runbook.ActionRollback, "1.1", "1.2"
	if err := x.Rollback(context.Background(), j, nil); err != nil {
		t.Fatal(err)
	}
	want := []url.Values{{"APP": {"billing"}, "VERSION": {"1.1"}, "FROM": {"1.2"}, "ENV": {"prod"}, "RUN": {"7"}, "ACTION": {"rollback"}}}
	if diff := cmp.Diff(want, e.f.Triggers("deploy/billing")); diff != "" {
		t.Errorf("rollback parameters (-want +got):\n%s", diff)
	}
}
