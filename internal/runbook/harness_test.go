package runbook_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/clocktest"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// monday10 is inside the production window (Mon-Thu 09:00-16:00 UTC).
var monday10 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// fakeChat records what the engine posts and updates, as a chat would show it.
type fakeChat struct {
	mu      sync.Mutex
	n       int
	msgs    map[string]runbook.Message
	posts   []runbook.Message
	replies []threaded
	newLog  []string // every Update's NewLog, in order
}

func (c *fakeChat) Post(_ context.Context, channel string, m runbook.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	ref := fmt.Sprintf("%s/%d", channel, c.n)
	if c.msgs == nil {
		c.msgs = map[string]runbook.Message{}
	}
	c.msgs[ref] = m
	c.posts = append(c.posts, m)
	return ref, nil
}

func (c *fakeChat) Update(_ context.Context, channel, ref string, m runbook.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.msgs[ref]; !ok {
		return fmt.Errorf("no message %s", ref)
	}
	c.msgs[ref] = m
	c.newLog = append(c.newLog, m.NewLog...)
	return nil
}

// threaded is a note posted in a message's thread.
type threaded struct {
	ref string
	m   runbook.Message
}

func (c *fakeChat) Reply(_ context.Context, channel, ref string, m runbook.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.msgs[ref]; !ok {
		return fmt.Errorf("no message %s", ref)
	}
	c.replies = append(c.replies, threaded{ref, m})
	return nil
}

// notices returns the texts of posts that are not run messages (reminders).
func (c *fakeChat) notices() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.posts {
		if m.Status == "" {
			out = append(out, m.Text)
		}
	}
	return out
}

func (c *fakeChat) message(ref string) runbook.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[ref]
}

// fakeExec is an executor whose steps tests control. It counts every call.
type fakeExec struct {
	deploys, rollbacks, verifies, healths, reattaches atomic.Int32

	mu       sync.Mutex
	artifact string
	jobs     []runbook.Job
	// failVersions make Deploy fail for these versions.
	failVersions map[string]bool
	healthErr    error
	verifyErr    error
	// block, when set, makes the named step wait until it is closed or
	// the step's context ends; entered is signalled when it starts.
	block   map[string]chan struct{}
	entered chan string
}

func (x *fakeExec) record(j runbook.Job) {
	x.mu.Lock()
	x.jobs = append(x.jobs, j)
	x.mu.Unlock()
}

func (x *fakeExec) wait(ctx context.Context, step string, p runbook.Progress) error {
	p(step + ": started")
	x.mu.Lock()
	ch := x.block[step]
	entered := x.entered
	x.mu.Unlock()
	if entered != nil {
		entered <- step
	}
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p(step + ": done")
	return nil
}

func (x *fakeExec) Deploy(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.deploys.Add(1)
	x.record(j)
	if j.Save != nil {
		// As a Jenkins build would: the step gets a handle to find it by.
		if err := j.Save(fmt.Sprintf("build-%d", j.RunID)); err != nil {
			return err
		}
	}
	if err := x.wait(ctx, "deploy", p); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failVersions[j.Version] {
		return errors.New("health endpoint returned 503")
	}
	return nil
}

func (x *fakeExec) Rollback(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.rollbacks.Add(1)
	x.record(j)
	return x.wait(ctx, "rollback", p)
}

func (x *fakeExec) Resolve(ctx context.Context, j runbook.Job) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.artifact == "" {
		return j.Version, nil
	}
	return x.artifact, nil
}

func (x *fakeExec) setArtifact(a string) { x.mu.Lock(); x.artifact = a; x.mu.Unlock() }

func (x *fakeExec) lastJob() runbook.Job {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.jobs[len(x.jobs)-1]
}

// verifyingExec adds smoke tests and health checks to fakeExec.
type verifyingExec struct{ *fakeExec }

func (x verifyingExec) Verify(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.verifies.Add(1)
	if err := x.wait(ctx, "verify", p); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.verifyErr
}

func (x verifyingExec) Health(ctx context.Context, j runbook.Job) error {
	x.healths.Add(1)
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.healthErr
}

// reattachingExec can pick up a step after a restart.
type reattachingExec struct{ *fakeExec }

func (x reattachingExec) Reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.reattaches.Add(1)
	if j.Handle != fmt.Sprintf("build-%d", j.RunID) {
		return fmt.Errorf("re-attached without the step's handle (got %q)", j.Handle)
	}
	p("re-attached to " + string(j.Action))
	return nil
}

// lostExec finds, after a restart, that its step ended with no result.
type lostExec struct{ *fakeExec }

func (x lostExec) Reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	x.reattaches.Add(1)
	return fmt.Errorf("the deploy command (pid 42) ended while Shipmate was down and left no exit status: %w", runbook.ErrOutcomeUnknown)
}

func mustWindow(t *testing.T, s string) runbook.Window {
	t.Helper()
	w, err := runbook.ParseWindow(s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// examplePolicy mirrors configs/example.yaml, plus a break-glass role.
func examplePolicy(t *testing.T) *runbook.Policy {
	web := func(ids ...string) runbook.Role {
		return runbook.Role{Members: map[string][]string{"web": ids}}
	}
	return &runbook.Policy{
		// Two people have a Slack identity too.
		People: map[string]runbook.Person{
			"rita": {IDs: map[string][]string{"web": {"rita"}, "slack": {"U0RM"}}},
			"bob":  {IDs: map[string][]string{"web": {"bob"}, "slack": {"U0BOB"}}},
		},
		Roles: map[string]runbook.Role{
			"tech-lead":         web("alice"),
			"release-manager":   web("rita", "rick"),
			"devops":            web("dan"),
			"incident-response": web("ivan"),
			"deployer":          web("alice", "bob", "rita", "rick", "dan", "ivan"),
			"break-glass":       web("ivan"),
		},
		Checklist: map[string]string{
			"merged": "Code merged to release branch", "tests": "All tests passing",
			"artifact": "Build artifact created and tagged", "plan": "Deployment plan reviewed",
			"rollback": "Rollback procedure documented", "notified": "Stakeholders notified",
			"change": "Change request approved (if required)", "migrations": "Database migrations tested (if applicable)",
		},
		Envs: []runbook.Environment{
			{Name: "development", Aliases: []string{"dev"}, Deployers: []string{"deployer"}, Rollback: []string{"requester"}},
			{Name: "staging", Aliases: []string{"stg", "stage"}, Deployers: []string{"deployer"},
				Approval:  runbook.ApprovalRule{Roles: []string{"tech-lead"}, Count: 1, AllowSelf: true},
				Checklist: []string{"merged", "tests", "artifact", "plan"}, Rollback: []string{"devops"}},
			{Name: "production", Aliases: []string{"prod", "prd"}, Deployers: []string{"deployer"},
				Approval:  runbook.ApprovalRule{Roles: []string{"release-manager"}, Count: 1, AllowSelf: false},
				Checklist: []string{"merged", "tests", "artifact", "plan", "rollback", "notified", "change", "migrations"},
				Requires:  "staging", Windows: []runbook.Window{mustWindow(t, "Mon-Thu 09:00-16:00 UTC")},
				Monitor: 30 * time.Minute, Rollback: []string{"incident-response", "release-manager"}},
		},
		Apps: map[string]runbook.App{"demo": {Name: "demo", Executor: "fake"}},
	}
}

type harness struct {
	t      *testing.T
	path   string
	policy *runbook.Policy
	st     *store.Store
	eng    *runbook.Engine
	clock  *clocktest.Clock
	chat   *fakeChat
	x      runbook.Executor
	fx     *fakeExec
	adjust func(*runbook.Config)
}

func newHarness(t *testing.T, x runbook.Executor, fx *fakeExec) *harness {
	t.Helper()
	return newHarnessWith(t, x, fx, nil)
}

// newHarnessWith lets a test adjust the engine's configuration.
func newHarnessWith(t *testing.T, x runbook.Executor, fx *fakeExec, adjust func(*runbook.Config)) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "shipmate.db"), policy: examplePolicy(t),
		clock: clocktest.New(monday10), chat: &fakeChat{}, x: x, fx: fx, adjust: adjust}
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// start opens the store and an engine on it, and resumes.
func (h *harness) start() {
	h.t.Helper()
	st, err := store.Open(h.path, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	cfg := runbook.Config{
		Store: st, Policy: h.policy, Executors: map[string]runbook.Executor{"demo": h.x},
		Chats: map[string]runbook.Chat{"web": h.chat}, Clock: h.clock,
		Log: zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel), OutputFlush: 5 * time.Millisecond,
	}
	if h.adjust != nil {
		h.adjust(&cfg)
	}
	h.eng = runbook.New(cfg)
	if err := h.eng.Resume(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// stop ends the engine abruptly, as a crash would: work in flight is cut
// off without being recorded, then the store is closed.
func (h *harness) stop() {
	if h.eng == nil {
		return
	}
	h.eng.Close()
	if err := h.st.Close(); err != nil {
		h.t.Error(err)
	}
	h.eng = nil
}

func (h *harness) restart() { h.stop(); h.start() }

// user is a console user, as the web adapter hands them to the engine: the
// engine works out who the person is.
func user(name string) runbook.User { return runbook.User{Platform: "web", ID: name} }

// do runs a chat command line as name and returns the reply text or the
// refusal text.
func (h *harness) do(name, line string) (runbook.Reply, error) {
	h.t.Helper()
	return h.doIn("general", name, line)
}

// doIn is do in another channel.
func (h *harness) doIn(channel, name, line string) (runbook.Reply, error) {
	h.t.Helper()
	res := h.eng.Parser().ParseLine(line)
	if res.Intent == nil {
		return runbook.Reply{}, fmt.Errorf("parse %q: %s", line, res.Reply)
	}
	return h.eng.Do(context.Background(), runbook.Request{User: user(name), Origin: runbook.Origin{Platform: "web", Channel: channel}, Intent: *res.Intent})
}

// must runs a command that has to be accepted and returns its run id.
func (h *harness) must(name, line string) uint64 {
	h.t.Helper()
	rep, err := h.do(name, line)
	if err != nil {
		h.t.Fatalf("%s: %q refused: %v", name, line, err)
	}
	h.settle()
	return rep.RunID
}

// refused runs a command that has to be refused and returns the refusal.
func (h *harness) refused(name, line string) string {
	h.t.Helper()
	_, err := h.do(name, line)
	if err == nil {
		h.t.Fatalf("%s: %q was accepted", name, line)
	}
	var e *runbook.Error
	if !errors.As(err, &e) {
		h.t.Fatalf("%s: %q failed with an internal error: %v", name, line, err)
	}
	return e.Message
}

func (h *harness) act(name string, id uint64, a runbook.ButtonAction, arg string) error {
	_, err := h.eng.Act(context.Background(), user(name), id, a, arg)
	h.settle()
	return err
}

func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.eng.Wait(ctx); err != nil {
		h.t.Fatal("engine did not settle: ", err)
	}
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.eng.Tick(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

func (h *harness) run(id uint64) *runbook.Run {
	h.t.Helper()
	r, err := h.st.Run(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) state(id uint64) runbook.State { return h.run(id).State }

func (h *harness) wantState(id uint64, want runbook.State) *runbook.Run {
	h.t.Helper()
	r := h.run(id)
	if r.State != want {
		h.t.Fatalf("run #%d is %s (%s), want %s", id, r.State, r.Note, want)
	}
	return r
}

func (h *harness) events(id uint64) []runbook.Event {
	h.t.Helper()
	evs, err := h.st.Events(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// tickAll ticks every checklist item of run id as name.
func (h *harness) tickAll(name string, id uint64) {
	h.t.Helper()
	for _, it := range h.run(id).Checklist {
		if err := h.act(name, id, runbook.ButtonTick, it.Key); err != nil {
			h.t.Fatal(err)
		}
	}
}

// deployTo takes app demo at version through env with the right people.
func (h *harness) deployTo(version, env string) uint64 {
	h.t.Helper()
	switch env {
	case "development":
		return h.must("bob", "/deploy demo "+version+" dev")
	case "staging":
		id := h.must("bob", "/deploy demo "+version+" staging")
		h.tickAll("alice", id)
		if err := h.act("alice", id, runbook.ButtonApprove, ""); err != nil {
			h.t.Fatal(err)
		}
		return id
	case "production":
		id := h.must("bob", "/deploy demo "+version+" production")
		h.tickAll("bob", id)
		if err := h.act("rita", id, runbook.ButtonApprove, ""); err != nil {
			h.t.Fatal(err)
		}
		return id
	}
	h.t.Fatalf("unknown env %s", env)
	return 0
}

func contains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("got %q, want it to contain %q", got, want)
	}
}
