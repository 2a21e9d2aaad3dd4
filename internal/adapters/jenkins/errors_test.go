package jenkins

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"shipmate/internal/adapters/jenkins/jenkinstest"
)

// deployErr runs a deploy of billing against e's fake and returns its
// error, checking it holds no token.
func deployErr(t *testing.T, e *testEnv, cfg JobConfig) error {
	t.Helper()
	x := e.executor(t, cfg)
	err := x.Deploy(context.Background(), testJob(nil), nil)
	noToken(t, err)
	return err
}

func TestErrorsPeopleUnderstand(t *testing.T) {
	for _, tc := range []struct {
		name  string
		job   *jenkinstest.Job // nil: none
		cfg   func(*JobConfig)
		want  string
		noRun bool // no build may have been requested
	}{
		{
			name: "unknown job", want: "Jenkins has no job deploy/billing", noRun: true,
		},
		{
			name: "folder", job: &jenkinstest.Job{Name: "deploy/billing", Folder: true}, noRun: true,
			want: "deploy/billing in Jenkins is not a job that can be built (it is a Folder)",
		},
		{
			name: "disabled", job: &jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Disabled: true}, noRun: true,
			want: "Jenkins job deploy/billing is disabled",
		},
		{
			name: "job declares no parameters", job: &jenkinstest.Job{Name: "deploy/billing"},
			want: "Jenkins refused to start deploy/billing with parameters ACTION, APP, ENV, RUN, VERSION: java.lang.IllegalStateException: This build is not parameterized!",
		},
		{
			name: "value refused", job: &jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Refuse: "java.lang.IllegalArgumentException: Illegal choice for parameter ENV: prod"},
			want: "Jenkins refused to start deploy/billing with parameters ACTION, APP, ENV, RUN, VERSION: java.lang.IllegalArgumentException: Illegal choice for parameter ENV: prod",
		},
		{
			name: "parameter the job does not declare", job: &jenkinstest.Job{Name: "deploy/billing", Params: []string{"APP", "ENV", "RUN", "ACTION", "DEPLOY_VERSION"}}, noRun: true,
			want: "Jenkins job deploy/billing declares no parameter VERSION (it has APP, ENV, RUN, ACTION, DEPLOY_VERSION); Jenkins would build with its defaults instead, so Shipmate did not start it",
		},
		{
			name: "no permission to build", job: &jenkinstest.Job{Name: "deploy/billing", Params: billingParams, ForbidBuild: true},
			want: "Jenkins rejected the credentials for user bob for POST /job/deploy/job/billing/buildWithParameters (403 Forbidden): bob is missing the Job/Build permission",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			if tc.job != nil {
				e.f.AddJob(*tc.job)
			}
			cfg := billingConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			err := deployErr(t, e, cfg)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Deploy error:\n got %v\nwant %s", err, tc.want)
			}
			if tc.noRun && e.f.Seen("POST") != 0 {
				t.Errorf("a build was requested:\n%s", strings.Join(e.f.Requests(), "\n"))
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	// The fake wants another token than the client has: the client's token
	// must show up nowhere.
	e := newTestEnvOf(t, jenkinstest.New(t, testUser, "the-right-token"))
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams})
	err := deployErr(t, e, billingConfig())
	want := "Jenkins rejected the credentials for user bob (401 Unauthorized): check the jenkins block's user and API token: Invalid password/token for user: bob"
	if err == nil || err.Error() != want {
		t.Errorf("Deploy error:\n got %v\nwant %s", err, want)
	}
	if err := e.c.Ping(context.Background()); err == nil || err.Error() != want {
		t.Errorf("Ping error:\n got %v\nwant %s", err, want)
	}
	k := NewChecker(e.c, map[string]CheckConfig{"ci": {Job: "ci/billing"}})
	if _, err := k.Check(context.Background(), testJob(nil), "ci"); err == nil || err.Error() != want {
		t.Errorf("Check error:\n got %v\nwant %s", err, want)
	}
}

func TestNoLogin(t *testing.T) {
	e := newTestEnv(t)
	c := e.client(t, ServerConfig{URL: e.f.URL})
	err := c.Ping(context.Background())
	want := "Jenkins at " + e.f.URL + " requires a login: set user and token in the jenkins block"
	if err == nil || err.Error() != want {
		t.Errorf("Ping error:\n got %v\nwant %s", err, want)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	e := newTestEnv(t)
	e.c = e.client(t, ServerConfig{URL: base, User: testUser, Token: testToken})
	err := deployErr(t, e, billingConfig())
	if err == nil || !strings.HasPrefix(err.Error(), "Jenkins at "+base+" is unreachable: ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Deploy error = %v", err)
	}
	if err := e.c.Ping(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "Jenkins at "+base+" is unreachable: ") {
		t.Errorf("Ping error = %v", err)
	}
}

func TestNotJenkins(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Please sign in</body></html>"))
	}))
	defer srv.Close()
	e := newTestEnv(t)
	e.c = e.client(t, ServerConfig{URL: srv.URL, User: testUser, Token: testToken})
	err := e.c.Ping(context.Background())
	if err == nil || err.Error() != srv.URL+" does not look like Jenkins: its answer has no X-Jenkins header" {
		t.Errorf("Ping error = %v", err)
	}
}

func TestPing(t *testing.T) {
	e := newTestEnv(t)
	for range 2 {
		if err := e.c.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The first Ping connects (a request of ours and gojenkins's Init),
	// the second asks once.
	if n := e.f.Seen("GET /api/json"); n != 3 {
		t.Errorf("%d requests to /api/json; want 3:\n%s", n, strings.Join(e.f.Requests(), "\n"))
	}
	if !strings.Contains(e.logs.String(), `"version":"2.440"`) {
		t.Errorf("the Jenkins version is not logged:\n%s", e.logs)
	}
}

// TestCallsBeforeInit checks that every entry point connects first: no
// gojenkins call can come before Init.
func TestCallsBeforeInit(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
	x := e.executor(t, billingConfig())
	if err := x.Deploy(context.Background(), testJob(nil), nil); err != nil {
		t.Fatal(err)
	}
	if log := e.f.Requests(); !strings.HasPrefix(log[0], "GET /api/json") || !strings.HasPrefix(log[1], "GET /api/json") {
		t.Errorf("the first requests are not the connection check:\n%s", strings.Join(log, "\n"))
	}
}

func TestInitIsRetriedAfterAFailure(t *testing.T) {
	e := newTestEnv(t)
	e.f.Down(jenkinstest.Outage{Requests: 1, Fault: jenkinstest.Starting})
	if err := e.c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Errorf("Ping during the outage = %v", err)
	}
	if err := e.c.Ping(context.Background()); err != nil {
		t.Errorf("Ping after the outage = %v", err)
	}
}

func TestTokenNeverInLogsOrErrors(t *testing.T) {
	// Every failure path in one place, with the debug log on; the env
	// checks the log when the test ends.
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Refuse: "bad value " + testToken})
	err := deployErr(t, e, billingConfig())
	if err == nil || !strings.Contains(err.Error(), "bad value [redacted]") {
		t.Errorf("Deploy error = %v; want Jenkins's message with the token redacted", err)
	}
	e.f.AddJob(jenkinstest.Job{Name: "deploy/echo", Script: jenkinstest.Script{Chunks: []string{"curl -u bob:" + testToken + "\n"}, Result: "FAILURE"}})
	p := newProgress()
	err = e.executor(t, JobConfig{Job: "deploy/echo"}).Deploy(context.Background(), testJob(nil), p.add)
	noToken(t, err)
	if strings.Contains(p.text(), testToken) || !p.has("curl -u bob:[redacted]") {
		t.Errorf("the console line with the token was not redacted:\n%s", p.text())
	}
	if _, err := NewClient(ServerConfig{URL: "https://bob:" + testToken + "@ci.example.com"}, e.c.log); err == nil {
		t.Error("NewClient accepted credentials in the URL")
	} else {
		noToken(t, err)
	}
	if _, err := NewClient(ServerConfig{URL: "https://ci.example.com/%zz" + testToken}, e.c.log); err == nil {
		t.Error("NewClient accepted a bad URL")
	} else {
		noToken(t, err)
	}
}

func TestAlreadyQueued(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		e := newTestEnv(t)
		e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams})
		e.f.QueueWaiting("deploy/billing", jenkinstest.Refused)
		err := deployErr(t, e, billingConfig())
		want := "Jenkins queued no build of deploy/billing: it answered 303 with no queue item (Location \"" + e.f.URL + "/job/deploy/job/billing/" +
			"\"); the job already has a build waiting in Jenkins's queue (Build #1 is already in progress (ETA: 1 min 2 sec)): let it run or cancel it in Jenkins (" +
			e.f.URL + "/job/deploy/job/billing/), then try again"
		if err == nil || err.Error() != want {
			t.Errorf("Deploy error:\n got %v\nwant %s", err, want)
		}
	})
	t.Run("merged", func(t *testing.T) {
		e := newTestEnv(t)
		e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: []string{"ok\n"}, Result: "SUCCESS"}})
		id := e.f.QueueWaiting("deploy/billing", jenkinstest.Merged)
		x := e.executor(t, billingConfig())
		p := newProgress()
		if err := x.Deploy(context.Background(), testJob(nil), p.add); err != nil {
			t.Fatalf("Deploy: %v", err)
		}
		if !p.has("Jenkins merged the request into queue item 17, which was already waiting with the same parameters") || id != 17 {
			t.Errorf("the merge is not reported:\n%s", p.text())
		}
	})
}

func TestQueueItemCancelledInJenkins(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, QueueDelay: 1 << 30, CancelAfter: 3})
	x := e.executor(t, billingConfig())
	done := runAsync(func() error { return x.Deploy(context.Background(), testJob(nil), nil) })
	err := within(t, done, 2*time.Second)
	want := "the queue item was cancelled in Jenkins (deploy/billing, queue item 17): nothing was built"
	if err == nil || err.Error() != want {
		t.Errorf("Deploy error:\n got %v\nwant %s", err, want)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams})
	x := e.executor(t, billingConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := x.Deploy(ctx, testJob(nil), nil)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "cancelled before anything was started in Jenkins") {
		t.Errorf("Deploy error = %v", err)
	}
	if e.f.Seen("POST") != 0 {
		t.Errorf("a build was requested:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
}

func TestDeadlineWhileQueued(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, QueueDelay: 1 << 30})
	x := e.executor(t, billingConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	done := runAsync(func() error { return x.Deploy(ctx, testJob(nil), nil) })
	err := within(t, done, time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if e.f.Seen("POST /queue/cancelItem?id=17") != 1 {
		t.Errorf("the queue item was not cancelled:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
}

func TestTimeout(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		e := newTestEnv(t)
		e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, QueueDelay: 1 << 30})
		cfg := billingConfig()
		cfg.Timeout = 100 * time.Millisecond
		err := within(t, runAsync(func() error { return deployErr(t, e, cfg) }), time.Second)
		want := "Jenkins did not start deploy/billing within 100ms; Shipmate removed queue item 17 of deploy/billing from Jenkins's queue"
		if err == nil || err.Error() != want {
			t.Errorf("Deploy error:\n got %v\nwant %s", err, want)
		}
	})
	t.Run("building", func(t *testing.T) {
		e := newTestEnv(t)
		e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{Chunks: make([]string, 1<<20), Result: "SUCCESS"}})
		cfg := billingConfig()
		cfg.Timeout = 100 * time.Millisecond
		err := within(t, runAsync(func() error { return deployErr(t, e, cfg) }), time.Second)
		want := "Jenkins build deploy/billing #1 did not finish within 100ms; Shipmate stopped Jenkins build deploy/billing #1 (" + e.f.URL + "/job/deploy/job/billing/1/)"
		if err == nil || err.Error() != want {
			t.Errorf("Deploy error:\n got %v\nwant %s", err, want)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("a timeout of the step's own wraps a context error: %v", err)
		}
		if b, _ := e.f.Build("deploy/billing", 1); !b.Stopped {
			t.Error("the build was not stopped")
		}
	})
}

// TestNoHangWhenJenkinsStopsAnswering: Jenkins accepts connections but
// never answers; ctx's deadline ends the step all the same.
func TestNoHangWhenJenkinsStopsAnswering(t *testing.T) {
	e := newTestEnv(t)
	e.c.t.cleanup = 200 * time.Millisecond
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: billingParams, Script: jenkinstest.Script{
		Chunks: []string{"one\n", "two\n", "three\n"}, Result: "SUCCESS",
		DownAfter: 2, Down: jenkinstest.Outage{Requests: 1000, Fault: jenkinstest.Hang},
	}})
	x := e.executor(t, billingConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := within(t, runAsync(func() error { return x.Deploy(ctx, testJob(nil), nil) }), 2*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if err == nil || !strings.Contains(err.Error(), "Shipmate could not stop Jenkins build deploy/billing #1") {
		t.Errorf("error = %v; want it to say the build could not be stopped", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Deploy took %s", took)
	}
	e.f.Down(jenkinstest.Outage{})
}
