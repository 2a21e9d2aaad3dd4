package jenkinstest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/jenkins/jenkinstest"
)

const user, token = "bob", "s3cret"

// call sends one request to the fake as bob and returns the status, the
// Location header and the body.
func call(t *testing.T, s *jenkinstest.Server, method, path string, form url.Values) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Jenkins answers a POST with a redirect that Shipmate does not follow.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// status looks at build n of deploy/billing once, as a poller does.
func status(t *testing.T, s *jenkinstest.Server, n string) (building bool, result string, duration int64) {
	t.Helper()
	code, _, body := call(t, s, http.MethodGet, "/job/deploy/job/billing/"+n+"/api/json", nil)
	if code != http.StatusOK {
		t.Fatalf("status of build %s: %d %s", n, code, body)
	}
	var b struct {
		Building bool
		Result   *string
		Duration int64
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	if b.Result != nil {
		result = *b.Result
	}
	return b.Building, result, b.Duration
}

func TestTriggerQueueAndBuild(t *testing.T) {
	s := jenkinstest.New(t, user, token)
	s.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: []string{"VERSION"}, QueueDelay: 1,
		Script: jenkinstest.Script{Chunks: []string{"deploying\n"}, Result: "SUCCESS"}})

	code, loc, _ := call(t, s, http.MethodPost, "/job/deploy/job/billing/buildWithParameters", url.Values{"VERSION": {"1.2"}})
	if code != http.StatusCreated || loc != s.URL+"/queue/item/17/" {
		t.Fatalf("trigger = %d, Location %q", code, loc)
	}
	if _, _, body := call(t, s, http.MethodGet, "/queue/item/17/api/json", nil); !strings.Contains(body, `"why":"In the quiet period`) {
		t.Errorf("first look at the queue item: %s", body)
	}
	if n := s.Started("deploy/billing"); n != 0 {
		t.Errorf("%d builds started while queued", n)
	}
	if _, _, body := call(t, s, http.MethodGet, "/queue/item/17/api/json", nil); !strings.Contains(body, `"number":1`) {
		t.Errorf("second look at the queue item: %s", body)
	}
	if n := s.Started("deploy/billing"); n != 1 {
		t.Errorf("%d builds started, want 1", n)
	}
	if diff := cmp.Diff([]url.Values{{"VERSION": {"1.2"}}}, s.Triggers("deploy/billing")); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
	if it, ok := s.QueueItem(17); !ok || it.Build != 1 || it.Cancelled {
		t.Errorf("QueueItem(17) = %+v, %v", it, ok)
	}
	if n := s.Seen("GET /queue/item/17/"); n != 2 {
		t.Errorf("Seen = %d, want 2; requests %q", n, s.Requests())
	}
}

func TestHoldKeepsTheBuildRunningUntilReleased(t *testing.T) {
	s := jenkinstest.New(t, user, token)
	release := make(chan struct{})
	s.AddJob(jenkinstest.Job{Name: "deploy/billing",
		Script: jenkinstest.Script{Chunks: []string{"one\n", "two\n"}, Result: "SUCCESS", Hold: release}})
	s.StartBuild("deploy/billing", nil)
	for range 5 {
		if building, _, _ := status(t, s, "1"); !building {
			t.Fatal("the build ended before it was released")
		}
	}
	close(release)
	if building, result, _ := status(t, s, "1"); building || result != "SUCCESS" {
		t.Errorf("after the release: building %v, result %q", building, result)
	}
	_, _, console := call(t, s, http.MethodGet, "/job/deploy/job/billing/1/logText/progressiveText?start=0", nil)
	if console != "one\ntwo\nFinished: SUCCESS\n" {
		t.Errorf("console = %q", console)
	}
	if diff := cmp.Diff([]jenkinstest.Build{{Number: 1, Params: url.Values{}, Result: "SUCCESS"}}, s.Builds("deploy/billing")); diff != "" {
		t.Errorf("builds (-want +got):\n%s", diff)
	}
}

func TestDurationKeepsTheBuildRunning(t *testing.T) {
	s := jenkinstest.New(t, user, token)
	s.AddJob(jenkinstest.Job{Name: "deploy/billing",
		Script: jenkinstest.Script{Chunks: []string{"one\n"}, Result: "FAILURE", Duration: 100 * time.Millisecond}})
	began := time.Now()
	s.StartBuild("deploy/billing", nil)
	for {
		building, result, took := status(t, s, "1")
		if !building {
			if time.Since(began) < 100*time.Millisecond || result != "FAILURE" || took < 100 {
				t.Errorf("ended %s after the start with %q, reporting %dms", time.Since(began), result, took)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStopHeldBuild(t *testing.T) {
	s := jenkinstest.New(t, user, token)
	s.AddJob(jenkinstest.Job{Name: "deploy/billing", Script: jenkinstest.Script{Result: "SUCCESS", Hold: make(chan struct{})}})
	s.StartBuild("deploy/billing", nil)
	if code, loc, _ := call(t, s, http.MethodPost, "/job/deploy/job/billing/1/stop", nil); code != http.StatusFound || loc != s.URL+"/job/deploy/job/billing/1/" {
		t.Errorf("stop = %d, Location %q", code, loc)
	}
	if b, ok := s.Build("deploy/billing", 1); !ok || !b.Stopped || b.Running || b.Result != "ABORTED" {
		t.Errorf("Build = %+v, %v", b, ok)
	}
}

func TestOutages(t *testing.T) {
	s := jenkinstest.New(t, user, token)
	s.Down(jenkinstest.Outage{Requests: 1, Fault: jenkinstest.Starting})
	if code, _, body := call(t, s, http.MethodGet, "/api/json", nil); code != http.StatusServiceUnavailable || !strings.Contains(body, "Jenkins is getting ready to work") {
		t.Errorf("during the outage: %d %s", code, body)
	}
	if code, _, _ := call(t, s, http.MethodGet, "/api/json", nil); code != http.StatusOK {
		t.Errorf("after the outage: %d", code)
	}

	s.Down(jenkinstest.Outage{Requests: 1, Fault: jenkinstest.Drop})
	// A new connection: on a reused one, Go's client would send the GET again.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(s.URL + "/api/json"); err == nil {
		t.Error("a dropped connection answered")
	}

	s.Down(jenkinstest.Outage{Requests: 1, Fault: jenkinstest.Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/json", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("a hanging request answered")
	}
}

func TestCredentials(t *testing.T) {
	s := jenkinstest.New(t, user, "another")
	code, _, body := call(t, s, http.MethodGet, "/api/json", nil)
	if code != http.StatusUnauthorized || !strings.Contains(body, "Invalid password/token for user: bob") {
		t.Errorf("wrong token: %d %s", code, body)
	}
}
