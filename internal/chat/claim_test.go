package chat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// lockEngine locks and unlocks app "demo" in the environment a command
// names, on a real store, the way the engine's lock and unlock do. The
// next fail locks fail inside Shipmate: their store write fails.
type lockEngine struct {
	fakeEngine
	st   *store.Store
	fail int
}

func (e *lockEngine) Command(ctx context.Context, u runbook.User, o runbook.Origin, c, env string) (runbook.Reply, bool, error) {
	switch c {
	case "/lock":
		if e.fail > 0 {
			e.fail--
			return e.failedWrite(ctx)
		}
		l := runbook.Lock{App: "demo", Env: env, Holder: u, Since: t0}
		if err := e.st.Hold(ctx, l); err != nil {
			var le *runbook.LockedError
			if errors.As(err, &le) {
				return runbook.Reply{}, true, runbook.Errorf(runbook.EConflict, "locked already")
			}
			return runbook.Reply{}, true, err
		}
		return runbook.Reply{Text: "locked"}, true, nil
	case "/approve":
		// Judged on what it reads, as the engine judges a click: refused
		// without writing once the lock it would take is held.
		if locked, _, _ := e.st.HoldOf(ctx, "demo", env); locked.Since.Equal(t0) {
			return runbook.Reply{}, true, runbook.Errorf(runbook.EConflict, "nothing to approve")
		}
		if err := e.st.Hold(ctx, runbook.Lock{App: "demo", Env: env, Holder: u, Since: t0}); err != nil {
			return runbook.Reply{}, true, err
		}
		return runbook.Reply{Text: "approved"}, true, nil
	case "/unlock":
		if _, _, err := e.st.Release(ctx, "demo", env, time.Time{}); err != nil {
			return runbook.Reply{}, true, err
		}
		return runbook.Reply{Text: "unlocked"}, true, nil
	}
	return e.fakeEngine.Command(ctx, u, o, c, env)
}

// failedWrite makes a write that fails inside the store's transaction
// (appending to a run that is not there) and reports it as the store
// failing.
func (e *lockEngine) failedWrite(ctx context.Context) (runbook.Reply, bool, error) {
	err := e.st.AppendEvents(ctx, 999, runbook.Event{Type: "note"})
	if err == nil {
		return runbook.Reply{Text: "?"}, true, nil
	}
	return runbook.Reply{}, true, fmt.Errorf("store: %s", err)
}

// claimingHandler is a Handler on a real store whose writes claim the
// delivery they are made for.
func claimingHandler(t *testing.T) (*Handler, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Handler{Platform: "x", Engine: &lockEngine{st: st}, Deduper: st, Now: func() time.Time { return t0 }}, st
}

// deliver carries out one delivery as an adapter does and returns the
// reply, or "" for a repeat.
func deliver(h *Handler, id, command, env string) string {
	ctx, first := h.First(context.Background(), "cmd", id)
	if !first {
		return ""
	}
	reply, _, err := h.Command(ctx, runbook.User{Platform: "x", ID: "U1"}, "C1", command, env)
	if h.Settle(ctx, "cmd", id, err) {
		return ""
	}
	return reply
}

func locked(t *testing.T, st *store.Store, env string) bool {
	t.Helper()
	ls, err := st.Locks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Env == env {
			return true
		}
	}
	return false
}

// A retried lock after the first was stored, and after an unlock since,
// locks nothing again: it is answered as a repeat, whether it is told
// apart before acting or only by its write (it began before the first
// was stored).
func TestRetriedLockIsARepeat(t *testing.T) {
	h, st := claimingHandler(t)
	if got := deliver(h, "L1", "/lock", "staging"); got != "locked" {
		t.Fatalf("lock: %q", got)
	}
	if got := deliver(h, "U1", "/unlock", "staging"); got != "unlocked" {
		t.Fatalf("unlock: %q", got)
	}
	if got := deliver(h, "L1", "/lock", "staging"); got != "" || locked(t, st, "staging") {
		t.Fatalf("the retried lock: %q, locked %v; want a repeat that locks nothing", got, locked(t, st, "staging"))
	}

	// A retry that was told new before the first delivery was stored.
	ctx1, _ := h.First(context.Background(), "cmd", "L2")
	ctx2, first := h.First(context.Background(), "cmd", "L2")
	if !first {
		t.Fatal("the retry was told a repeat before anything was stored")
	}
	u := runbook.User{Platform: "x", ID: "U1"}
	if _, _, err := h.Command(ctx1, u, "C1", "/lock", "prod"); h.Settle(ctx1, "cmd", "L2", err) || err != nil {
		t.Fatalf("lock: %v", err)
	}
	deliver(h, "U2", "/unlock", "prod")
	_, _, err := h.Command(ctx2, u, "C1", "/lock", "prod")
	if !h.Settle(ctx2, "cmd", "L2", err) || locked(t, st, "prod") {
		t.Fatalf("the retry's write: %v, locked %v; want a repeat that locks nothing", err, locked(t, st, "prod"))
	}
}

// The same click delivered twice, the second judged after the first
// acted (on another replica, say): the second is refused by the engine
// without writing, and is answered as a repeat, not with the refusal.
func TestRefusedBecauseItsTwinActedIsARepeat(t *testing.T) {
	h, _ := claimingHandler(t)
	u := runbook.User{Platform: "x", ID: "U1"}
	ctx1, _ := h.First(context.Background(), "cmd", "A1")
	ctx2, first := h.First(context.Background(), "cmd", "A1")
	if !first {
		t.Fatal("the twin was told a repeat before anything was stored")
	}
	if reply, _, err := h.Command(ctx1, u, "C1", "/approve", "prod"); err != nil || h.Settle(ctx1, "cmd", "A1", err) {
		t.Fatalf("the first click: %q, %v", reply, err)
	}
	_, _, err := h.Command(ctx2, u, "C1", "/approve", "prod")
	if runbook.ErrorCode(err) != runbook.EConflict {
		t.Fatalf("the twin was not refused: %v", err)
	}
	if !h.Settle(ctx2, "cmd", "A1", err) {
		t.Error("the twin's refusal is answered, want a repeat")
	}
	// A click of its own refused for the same reason is answered.
	if got := deliver(h, "A2", "/approve", "prod"); got != "nothing to approve" {
		t.Errorf("another delivery's refusal: %q, want it answered", got)
	}
}

// Concurrent deliveries with one key: exactly one acts.
func TestConcurrentDeliveriesActOnce(t *testing.T) {
	h, st := claimingHandler(t)
	for i := range 20 {
		env := fmt.Sprintf("env-%02d", i)
		replies := make([]string, 4)
		var wg sync.WaitGroup
		for j := range replies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replies[j] = deliver(h, "K"+env, "/lock", env)
			}()
		}
		wg.Wait()
		acted := 0
		for _, r := range replies {
			switch r {
			case "locked":
				acted++
			case "":
			default:
				t.Errorf("%s: a delivery answered %q, want a lock or a repeat", env, r)
			}
		}
		if acted != 1 || !locked(t, st, env) {
			t.Errorf("%s: %d deliveries acted (%q), want exactly 1", env, acted, replies)
		}
	}
}

// A delivery whose write failed inside Shipmate stored nothing, its key
// included: the retry acts. One refused for the user's reason is
// remembered: its retry is dropped. A read stores nothing.
func TestFailedDeliveryIsRetried(t *testing.T) {
	h, st := claimingHandler(t)
	h.Engine.(*lockEngine).fail = 1
	if got := deliver(h, "F1", "/lock", "staging"); got != runbook.ErrorMessage(errors.New("")) || locked(t, st, "staging") {
		t.Fatalf("a failed lock: %q", got)
	}
	if seen, err := st.Seen(context.Background(), "x:cmd:F1", t0); err != nil || seen {
		t.Fatalf("a failed command's key stored: %v %v", seen, err)
	}
	if got := deliver(h, "F1", "/lock", "staging"); got != "locked" {
		t.Fatalf("the retry of a failed delivery: %q, want it to act", got)
	}

	deliver(h, "R1", "/lock", "staging") // refused: locked already
	if got := deliver(h, "R1", "/lock", "staging"); got != "" {
		t.Fatalf("a refused command's retry: %q, want it dropped", got)
	}
	deliver(h, "S1", "/deploy", "status")
	if seen, _ := st.Seen(context.Background(), "x:cmd:S1", t0); seen {
		t.Error("a read stored its delivery's key")
	}
}
