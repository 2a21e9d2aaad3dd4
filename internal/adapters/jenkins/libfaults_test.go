package jenkins

import (
	"context"
	"errors"
	"io"
	"log"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bndr/gojenkins"

	"shipmate/internal/adapters/jenkins/jenkinstest"
)

// These tests show, against the fake, the gojenkins v1.2.0 faults that
// made this package call Jenkins itself; each names the test of
// Shipmate's own behaviour in that situation. If one starts failing after
// an upgrade, the library fixed the fault.

// initGojenkins connects a bare gojenkins client to the fake.
func initGojenkins(t *testing.T, f *jenkinstest.Server) *gojenkins.Jenkins {
	t.Helper()
	gojenkinsMu.Lock()
	defer gojenkinsMu.Unlock()
	jk, err := gojenkins.CreateJenkins(nil, f.URL, testUser, testToken).Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Init points the package-level loggers at stdout and stderr; the
	// faults below log through them.
	gojenkins.Info, gojenkins.Warning, gojenkins.Error = discard, discard, discard
	return jk
}

var discard = log.New(io.Discard, "", 0)

// BuildJob returns (0, nil) for a job with a build already queued, without
// asking Jenkins: the caller would follow queue item 0. Ours:
// TestAlreadyQueued.
func TestGojenkinsBuildJobZeroNil(t *testing.T) {
	f := jenkinstest.New(t, testUser, testToken)
	f.AddJob(jenkinstest.Job{Name: "billing", Params: []string{"VERSION"}})
	f.QueueWaiting("billing", jenkinstest.Merged)
	jk := initGojenkins(t, f)
	gojenkinsMu.Lock() // it logs through the package-level logger Init sets
	id, err := jk.BuildJob(context.Background(), "billing", map[string]string{"VERSION": "1.2"})
	gojenkinsMu.Unlock()
	if id != 0 || err != nil {
		t.Errorf("BuildJob = (%d, %v); the fault is (0, nil)", id, err)
	}
	if f.Seen("POST") != 0 {
		t.Error("BuildJob asked Jenkins after all")
	}
}

// BuildJob posts to /build when the job declares no parameters, so the
// parameters are dropped and the build runs with none. Ours:
// TestErrorsPeopleUnderstand/job_declares_no_parameters.
func TestGojenkinsBuildJobDropsParameters(t *testing.T) {
	f := jenkinstest.New(t, testUser, testToken)
	f.AddJob(jenkinstest.Job{Name: "billing", Script: jenkinstest.Script{Result: "SUCCESS"}})
	jk := initGojenkins(t, f)
	gojenkinsMu.Lock()
	id, err := jk.BuildJob(context.Background(), "billing", map[string]string{"VERSION": "1.2"})
	gojenkinsMu.Unlock()
	if err != nil || id == 0 || f.Seen("POST /job/billing/build") != 1 {
		t.Errorf("BuildJob = (%d, %v), requests %q; the fault is a build requested at /build", id, err, f.Requests())
	}
}

// Every Requester.Post first asks for a crumb and reads the status of a
// nil response when that request fails: a cancelled ctx panics. Ours:
// TestCancelWhileQueued, TestCancelWhileBuilding.
func TestGojenkinsPostPanicsOnCancelledContext(t *testing.T) {
	f := jenkinstest.New(t, testUser, testToken)
	jk := initGojenkins(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		_, _ = jk.Requester.Post(ctx, "/queue/cancelItem", nil, nil, map[string]string{"id": "17"})
		return false
	}()
	if !panicked {
		t.Error("Post did not panic; the fault is a nil pointer dereference in SetCrumb")
	}
}

// GetBuildFromQueueID sleeps a second per look without watching ctx and
// loops until the item has a build, which a cancelled item never gets: it
// ends only with ctx. Ours: TestQueueItemCancelledInJenkins.
func TestGojenkinsGetBuildFromQueueIDMissesCancellation(t *testing.T) {
	t.Parallel()
	f := jenkinstest.New(t, testUser, testToken)
	f.AddJob(jenkinstest.Job{Name: "billing", QueueDelay: 1 << 30})
	id := f.QueueWaiting("billing", jenkinstest.Queued)
	f.CancelItem(id)
	jk := initGojenkins(t, f)
	job, err := jk.GetJob(context.Background(), "billing")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = jk.GetBuildFromQueueID(ctx, job, id)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) < time.Second {
		t.Errorf("GetBuildFromQueueID = %v after %s; the fault is waiting for ctx's end", err, time.Since(began))
	}
}

// Job.GetBuild builds "/job/billing//1": Jenkins's Jetty refuses the empty
// segment. Ours builds paths itself: buildPath.
func TestGojenkinsGetBuildDoubleSlash(t *testing.T) {
	f := jenkinstest.New(t, testUser, testToken)
	f.AddJob(jenkinstest.Job{Name: "billing", Script: jenkinstest.Script{Chunks: []string{"x\n"}, Result: "SUCCESS"}})
	f.StartBuild("billing", url.Values{})
	jk := initGojenkins(t, f)
	if _, err := jk.GetBuild(context.Background(), "billing", 1); err == nil {
		t.Error("GetBuild succeeded")
	}
	found := false
	for _, r := range f.Requests() {
		found = found || strings.Contains(r, "/job/billing//1/")
	}
	if !found {
		t.Errorf("no request with a // path: %q", f.Requests())
	}
}

// Build.IsRunning and GetConsoleOutput swallow errors: with Jenkins down,
// a running build is "not running" with an empty console. Ours:
// TestJenkinsDownMidBuild.
func TestGojenkinsSwallowedErrors(t *testing.T) {
	f := jenkinstest.New(t, testUser, testToken)
	f.AddJob(jenkinstest.Job{Name: "billing", Script: jenkinstest.Script{Chunks: []string{"x\n", "y\n"}, Result: "SUCCESS"}})
	f.StartBuild("billing", url.Values{})
	jk := initGojenkins(t, f)
	b := &gojenkins.Build{Jenkins: jk, Raw: new(gojenkins.BuildResponse), Base: "/job/billing/1", Depth: 1}
	if !b.IsRunning(context.Background()) {
		t.Fatal("the build is not running to begin with")
	}
	f.Down(jenkinstest.Outage{Requests: 100, Fault: jenkinstest.Starting})
	if b.IsRunning(context.Background()) {
		t.Error("IsRunning reported the build running with Jenkins down")
	}
	if out := b.GetConsoleOutput(context.Background()); strings.Contains(out, "x") {
		t.Errorf("GetConsoleOutput = %q with Jenkins down", out)
	}
}

// Build.Stop follows Jenkins's redirect after the stop and fails on the
// page it lands on, though the build was stopped; Task.Cancel wants 200
// where Jenkins answers 204. Ours accept any success status:
// TestCancelWhileBuilding, TestCancelWhileQueued.
func TestGojenkinsStopAndCancelMisreport(t *testing.T) {
	f := jenkinstest.New(t, testUser, testToken)
	f.AddJob(jenkinstest.Job{Name: "billing", QueueDelay: 1 << 30, Script: jenkinstest.Script{Chunks: []string{"x\n", "y\n"}, Result: "SUCCESS"}})
	n := f.StartBuild("billing", url.Values{})
	id := f.QueueWaiting("billing", jenkinstest.Queued)
	jk := initGojenkins(t, f)

	b := &gojenkins.Build{Jenkins: jk, Raw: new(gojenkins.BuildResponse), Base: "/job/billing/1", Depth: 1}
	if _, err := b.Stop(context.Background()); err == nil {
		t.Error("Stop reported no error")
	}
	if bld, _ := f.Build("billing", n); !bld.Stopped {
		t.Error("the build was not stopped")
	}

	task, err := jk.GetQueueItem(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := task.Cancel(context.Background())
	it, _ := f.QueueItem(id)
	cancelled := it.Cancelled
	if ok || err != nil || !cancelled {
		t.Errorf("Cancel = (%v, %v), item cancelled %v; the fault is (false, nil) for a cancelled item", ok, err, cancelled)
	}
}
