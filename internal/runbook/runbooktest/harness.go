package runbooktest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/clocktest"
	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// Harness is an engine on a store in a temporary bbolt file, deploying
// app "demo" with Exec, posting to a fake Chat on platform "web", on a
// test clock at Monday10. Users are web console users, as the web adapter
// hands them to the engine.
type Harness struct {
	T      *testing.T
	Path   string // the store's file
	Policy *runbook.Policy
	Store  *store.Store
	Engine *runbook.Engine
	Clock  *clocktest.Clock
	Chat   *Chat
	Exec   *Exec
	// Adjust, when set, changes the engine's configuration at each Start.
	Adjust func(*runbook.Config)
}

// New starts a harness on Policy() with x (nil: NewExec(Resolve)); adjust
// changes the engine's configuration. It stops when the test ends.
func New(t *testing.T, x *Exec, adjust func(*runbook.Config)) *Harness {
	t.Helper()
	if x == nil {
		x = NewExec(Resolve)
	}
	h := &Harness{T: t, Path: filepath.Join(t.TempDir(), "shipmate.db"), Policy: Policy(),
		Clock: clocktest.New(Monday10), Chat: &Chat{}, Exec: x, Adjust: adjust}
	h.Start()
	t.Cleanup(h.Stop)
	return h
}

// Start opens the store and an engine on it, and resumes.
func (h *Harness) Start() {
	h.T.Helper()
	st, err := store.Open(h.Path, store.Options{})
	if err != nil {
		h.T.Fatal(err)
	}
	h.Store = st
	h.Engine = runbook.New(h.config())
	if err := h.Engine.Resume(context.Background()); err != nil {
		h.T.Fatal(err)
	}
}

// config is the engine's configuration on the open store.
func (h *Harness) config() runbook.Config {
	cfg := runbook.Config{
		Store: h.Store, Policy: h.Policy, Executors: map[string]runbook.Executor{"demo": h.Exec.Executor()},
		Chats: map[string]runbook.Chat{"web": h.Chat}, Clock: h.Clock,
		Log: zerolog.New(zerolog.NewTestWriter(h.T)).Level(zerolog.WarnLevel), OutputFlush: 5 * time.Millisecond,
	}
	if h.Adjust != nil {
		h.Adjust(&cfg)
	}
	return cfg
}

// Replica returns another engine on the same store, executor and chat, as
// a second replica of the bot would run: it follows until it leads. It is
// closed when the test ends.
func (h *Harness) Replica() *runbook.Engine {
	cfg := h.config()
	cfg.Follow = true
	e := runbook.New(cfg)
	h.T.Cleanup(e.Close)
	return e
}

// Stop ends the engine abruptly, as a crash would: work in flight is cut
// off without being recorded, then the store is closed.
func (h *Harness) Stop() {
	if h.Engine == nil {
		return
	}
	h.Engine.Close()
	if err := h.Store.Close(); err != nil {
		h.T.Error(err)
	}
	h.Engine = nil
}

// Restart stops and starts the engine on the same store file.
func (h *Harness) Restart() { h.Stop(); h.Start() }

// User is a web console user.
func User(name string) runbook.User { return runbook.User{Platform: "web", ID: name} }

// Do runs a chat command line as name in channel "general" and returns
// the engine's reply or refusal.
func (h *Harness) Do(name, line string) (runbook.Reply, error) {
	h.T.Helper()
	return h.DoIn("general", name, line)
}

// DoIn is Do in another channel.
func (h *Harness) DoIn(channel, name, line string) (runbook.Reply, error) {
	h.T.Helper()
	res := h.Engine.Parser().ParseLine(line)
	if res.Intent == nil {
		return runbook.Reply{}, fmt.Errorf("parse %q: %s", line, res.Reply)
	}
	return h.Engine.Do(context.Background(), runbook.Request{User: User(name), Origin: runbook.Origin{Platform: "web", Channel: channel}, Intent: *res.Intent})
}

// Must runs a command that has to be accepted, settles, and returns its
// run id.
func (h *Harness) Must(name, line string) uint64 {
	h.T.Helper()
	rep, err := h.Do(name, line)
	if err != nil {
		h.T.Fatalf("%s: %q refused: %v", name, line, err)
	}
	h.Settle()
	return rep.RunID
}

// Refused runs a command that has to be refused and returns the refusal.
func (h *Harness) Refused(name, line string) string {
	h.T.Helper()
	_, err := h.Do(name, line)
	if err == nil {
		h.T.Fatalf("%s: %q was accepted", name, line)
	}
	var e *runbook.Error
	if !errors.As(err, &e) {
		h.T.Fatalf("%s: %q failed with an internal error: %v", name, line, err)
	}
	return e.Message
}

// Act presses button a (with arg) on run id as name, and settles.
func (h *Harness) Act(name string, id uint64, a runbook.ButtonAction, arg string) error {
	_, err := h.Engine.Act(context.Background(), User(name), id, a, arg)
	h.Settle()
	return err
}

// Settle waits until the engine has nothing left to do.
func (h *Harness) Settle() {
	h.T.Helper()
	// The bound only turns a hang into a failure: on a busy machine under
	// -race, a step printing a million lines takes its time.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.Engine.Wait(ctx); err != nil {
		h.T.Fatal("engine did not settle: ", err)
	}
}

// Tick runs the engine's timers and settles.
func (h *Harness) Tick() {
	h.T.Helper()
	if err := h.Engine.Tick(context.Background()); err != nil {
		h.T.Fatal(err)
	}
	h.Settle()
}

// Run reads run id from the store.
func (h *Harness) Run(id uint64) *runbook.Run {
	h.T.Helper()
	r, err := h.Store.Run(context.Background(), id)
	if err != nil {
		h.T.Fatal(err)
	}
	return r
}

// State returns run id's state.
func (h *Harness) State(id uint64) runbook.State { return h.Run(id).State }

// WantState fails the test unless run id is in state want, and returns it.
func (h *Harness) WantState(id uint64, want runbook.State) *runbook.Run {
	h.T.Helper()
	r := h.Run(id)
	if r.State != want {
		h.T.Fatalf("run #%d is %s (%s), want %s", id, r.State, r.Note, want)
	}
	return r
}

// Events returns run id's audit trail.
func (h *Harness) Events(id uint64) []runbook.Event {
	h.T.Helper()
	evs, err := h.Store.Events(context.Background(), id)
	if err != nil {
		h.T.Fatal(err)
	}
	return evs
}

// TickAll ticks every checklist item of run id as name.
func (h *Harness) TickAll(name string, id uint64) {
	h.T.Helper()
	for _, it := range h.Run(id).Checklist {
		if err := h.Act(name, id, runbook.ButtonTick, it.Key); err != nil {
			h.T.Fatal(err)
		}
	}
}

// DeployTo takes app demo at version through env of Policy() with the
// right people, and returns the run's id.
func (h *Harness) DeployTo(version, env string) uint64 {
	h.T.Helper()
	switch env {
	case "development":
		return h.Must("bob", "/deploy demo "+version+" dev")
	case "staging":
		id := h.Must("bob", "/deploy demo "+version+" staging")
		h.TickAll("alice", id)
		if err := h.Act("alice", id, runbook.ButtonApprove, ""); err != nil {
			h.T.Fatal(err)
		}
		return id
	case "production":
		id := h.Must("bob", "/deploy demo "+version+" production")
		h.TickAll("bob", id)
		if err := h.Act("rita", id, runbook.ButtonApprove, ""); err != nil {
			h.T.Fatal(err)
		}
		return id
	}
	h.T.Fatalf("unknown env %s", env)
	return 0
}
