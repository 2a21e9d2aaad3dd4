package jenkins

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/adapters/jenkins/jenkinstest"
	"shipmate/internal/logtest"
	"shipmate/internal/runbook"
)

const (
	testUser  = "bob"
	testToken = "11d7c0ffee5ecret7oken42"
)

// fastTiming keeps the tests quick; every wait is still bounded.
var fastTiming = timing{
	init:     2 * time.Second,
	request:  2 * time.Second,
	queue:    2 * time.Millisecond,
	build:    2 * time.Millisecond,
	retryMin: 2 * time.Millisecond,
	retryMax: 10 * time.Millisecond,
	cleanup:  2 * time.Second,
	drain:    2 * time.Second,
}

// testEnv is a fake Jenkins and a client of it whose logs are captured.
// At the end of the test the logs must not hold the token.
type testEnv struct {
	f    *jenkinstest.Server
	c    *Client
	logs *logtest.Buffer
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvOf(t, jenkinstest.New(t, testUser, testToken))
}

// newTestEnvOf is newTestEnv with the fake f, which may want other
// credentials than the client has.
func newTestEnvOf(t *testing.T, f *jenkinstest.Server) *testEnv {
	t.Helper()
	e := &testEnv{f: f, logs: &logtest.Buffer{}}
	e.c = e.client(t, ServerConfig{URL: f.URL + "/", User: testUser, Token: testToken})
	return e
}

// client returns a client of cfg logging to the env's buffer.
func (e *testEnv) client(t *testing.T, cfg ServerConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg, zerolog.New(e.logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	c.t = fastTiming
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), testToken) {
			t.Errorf("the token appears in the logs:\n%s", e.logs)
		}
	})
	return c
}

func (e *testEnv) executor(t *testing.T, cfg JobConfig) *Executor {
	t.Helper()
	x, err := NewExecutor(e.c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// noToken fails the test if err's text holds the token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Errorf("the token appears in the error %q", err)
	}
}

// progress collects Progress lines; tests read them while a step runs.
type progress struct {
	mu  sync.Mutex
	all []string
	c   chan string
}

func newProgress() *progress { return &progress{c: make(chan string, 10000)} }

func (p *progress) add(line string) {
	p.mu.Lock()
	p.all = append(p.all, line)
	p.mu.Unlock()
	p.c <- line
}

func (p *progress) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.all...)
}

func (p *progress) text() string { return strings.Join(p.lines(), "\n") }

// await waits for a line containing want.
func (p *progress) await(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-p.c:
			if strings.Contains(got, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within 5s; got:\n%s", want, p.text())
		}
	}
}

// has reports whether some line contains want.
func (p *progress) has(want string) bool {
	for _, l := range p.lines() {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// index returns the index of the first line equal to want, or -1.
func (p *progress) index(want string) int {
	for i, l := range p.lines() {
		if l == want {
			return i
		}
	}
	return -1
}

// saver records the handles a step saves.
type saver struct {
	mu      sync.Mutex
	handles []string
}

func (s *saver) save(h string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handles = append(s.handles, h)
	return nil
}

func (s *saver) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.handles...)
}

func testJob(s *saver) runbook.Job {
	j := runbook.Job{RunID: 7, Action: runbook.ActionDeploy, App: "billing", Env: "prod", Version: "1.2",
		PreviousVersion: "1.1", Requester: "alice"}
	if s != nil {
		j.Save = s.save
	}
	return j
}

// runAsync runs fn in a goroutine and returns a channel with its error.
func runAsync(fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	return done
}

// within waits for the error of a step, failing the test after d.
func within(t *testing.T, done <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("the step did not return within %s", d)
		return nil
	}
}
