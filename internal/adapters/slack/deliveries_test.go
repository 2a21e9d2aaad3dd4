package slack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// flakyEngine is the flow's engine with faults: the next `fail` commands
// and actions fail inside Shipmate (as when the store fails) without
// doing anything, and the actions of users in hold wait for their
// channel to close.
type flakyEngine struct {
	chat.Engine
	mu      sync.Mutex
	fail    int
	hold    map[string]chan struct{}
	holding chan string // the user whose action began waiting
}

func (e *flakyEngine) failing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail > 0 {
		e.fail--
		return true
	}
	return false
}

func (e *flakyEngine) Command(ctx context.Context, u runbook.User, o runbook.Origin, command, text string) (runbook.Reply, bool, error) {
	if e.failing() {
		return runbook.Reply{}, true, errors.New("save run: disk I/O error")
	}
	return e.Engine.Command(ctx, u, o, command, text)
}

func (e *flakyEngine) Act(ctx context.Context, u runbook.User, id uint64, a runbook.ButtonAction, arg string) (runbook.Reply, error) {
	if e.failing() {
		return runbook.Reply{}, errors.New("save run: disk I/O error")
	}
	e.mu.Lock()
	held := e.hold[u.ID]
	e.mu.Unlock()
	if held != nil {
		e.holding <- u.ID
		select {
		case <-held:
		case <-ctx.Done():
			return runbook.Reply{}, ctx.Err()
		}
	}
	return e.Engine.Act(ctx, u, id, a, arg)
}

// flaky puts a flakyEngine in front of the flow's engine.
func flaky(f *flow) *flakyEngine {
	e := &flakyEngine{Engine: f.engine, hold: map[string]chan struct{}{}, holding: make(chan string, 4)}
	f.adapter.h.Engine = e
	return e
}

// A delivery whose command or click failed inside Shipmate is forgotten:
// Slack's retry of it acts. One refused for the user's reason is not.
func TestDeliveryFailedInsideIsRetried(t *testing.T) {
	f := newFlow(t, flowOptions{})
	e := flaky(f)

	// A slash command.
	e.fail = 1
	body := f.slashForm("U0DEV", flowRelease, "/deploy", "demo v1.2.0 staging", f.triggerID())
	if got := f.ephemeral(f.signed("/slack/commands", formType, body, nil)); !strings.Contains(got, "internal error") {
		t.Fatalf("reply to a failed command: %q", got)
	}
	if n := len(f.runs()); n != 0 {
		t.Fatalf("%d runs after a failed command", n)
	}
	id := f.runOf(f.ephemeral(f.signed("/slack/commands", formType, body, nil)))
	f.settle()
	f.wantState(id, runbook.StateChecklist)
	// Its retry now is a repeat: answered with nothing, no second run.
	if res := f.signed("/slack/commands", formType, body, nil); res.status != http.StatusOK || len(res.body) != 0 {
		t.Fatalf("a repeat of a stored command: %d %q", res.status, res.body)
	}

	// A click: the retry with the same trigger_id ticks.
	e.fail = 1
	keys := f.checklistOf("staging")
	u := f.fake.ResponseURL()
	click := f.interactionBody("U0LEAD", id, f.triggerID(), u, ticks(id, keys...))
	if res := f.signed("/slack/interactions", formType, click, nil); res.status != http.StatusOK {
		t.Fatalf("click: %d", res.status)
	}
	if got := f.refusal(u); !strings.Contains(got, "internal error") {
		t.Fatalf("refusal of a failed click: %q", got)
	}
	f.signed("/slack/interactions", formType, click, nil)
	f.settle()
	f.wantState(id, runbook.StateAwaitingApproval)

	// A refused command keeps its key: the retry is dropped.
	refused := f.slashForm("U0DEV", flowRelease, "/deploy", "demo v1.2.0 nowhere", f.triggerID())
	if got := f.ephemeral(f.signed("/slack/commands", formType, refused, nil)); strings.Contains(got, "internal error") {
		t.Fatalf("reply to a refused command: %q", got)
	}
	if res := f.signed("/slack/commands", formType, refused, nil); len(res.body) != 0 {
		t.Fatalf("a refused command's retry was answered again: %q", res.body)
	}
}

// A mention is carried out before Slack has its ack: one that failed
// inside Shipmate is answered 500, and Slack's retry acts.
func TestMentionFailedInsideIsRetried(t *testing.T) {
	f := newFlow(t, flowOptions{})
	e := flaky(f)
	e.fail = 1
	body := f.mentionEvent("Ev0FLAKY1", "U0DEV", flowRelease, "<@UBOT> deploy demo v1 dev")
	if res := f.signed("/slack/events", "application/json", body, nil); res.status != http.StatusInternalServerError {
		t.Fatalf("a failed mention: status %d, want 500 so that Slack retries", res.status)
	}
	f.settle()
	if n := len(f.runs()); n != 0 {
		t.Fatalf("%d runs after a failed mention", n)
	}
	retry := http.Header{"X-Slack-Retry-Num": {"1"}, "X-Slack-Retry-Reason": {"http_error"}}
	if res := f.signed("/slack/events", "application/json", body, retry); res.status != http.StatusOK {
		t.Fatalf("the retry: status %d", res.status)
	}
	f.settle()
	if rs := f.runs(); len(rs) != 1 || rs[0].Version != "v1" {
		t.Fatalf("runs after the retry: %+v", rs)
	}
	eph := f.fake.Ephemerals()
	if len(eph) != 2 || !strings.Contains(eph[0].Text, "internal error") || !strings.Contains(eph[1].Text, "Run #1") {
		t.Fatalf("ephemeral replies %+v, want the failure, then the run", eph)
	}

	// A refused mention is answered, acknowledged and not acted on again.
	refused := f.mentionEvent("Ev0FLAKY2", "U0DEV", flowRelease, "<@UBOT> deploy demo v1 nowhere")
	for range 2 {
		if res := f.signed("/slack/events", "application/json", refused, nil); res.status != http.StatusOK {
			t.Fatalf("a refused mention: status %d", res.status)
		}
	}
	f.settle()
	if n := len(f.fake.Ephemerals()); n != 3 {
		t.Fatalf("%d ephemeral replies, want one more for the refused mention", n)
	}
}

// A retried lock, delivered again after an unlock, locks nothing: the
// lock's delivery was stored with it. Deliveries of one lock that arrive
// together lock once: one is answered, the others are repeats.
func TestRetriedLockActsOnce(t *testing.T) {
	f := newFlow(t, flowOptions{})
	lock := f.slashForm("U0OPS", flowRelease, "/deploy", "lock demo production", f.triggerID())
	if got := f.ephemeral(f.signed("/slack/commands", formType, lock, nil)); !strings.Contains(got, "demo is locked in production") {
		t.Fatalf("lock: %q", got)
	}
	if got := f.slash("U0OPS", flowRelease, "/deploy", "unlock demo production"); !strings.Contains(got, "demo is unlocked in") {
		t.Fatalf("unlock: %q", got)
	}
	if res := f.signed("/slack/commands", formType, lock, nil); res.status != http.StatusOK || len(res.body) != 0 {
		t.Fatalf("the retried lock: %d %q, want a repeat", res.status, res.body)
	}
	if ls, err := f.store.Locks(t.Context()); err != nil || len(ls) != 0 {
		t.Fatalf("locks after the retried lock: %+v %v", ls, err)
	}

	for i := range 10 {
		env := []string{"staging", "production"}[i%2]
		body := f.slashForm("U0OPS", flowRelease, "/deploy", "lock demo "+env, f.triggerID())
		bodies := make([][]byte, 3)
		var wg sync.WaitGroup
		for j := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bodies[j] = f.signed("/slack/commands", formType, body, nil).body
			}()
		}
		wg.Wait()
		answered := 0
		for _, b := range bodies {
			if len(b) != 0 {
				answered++
			}
		}
		if answered != 1 {
			t.Fatalf("%d of 3 deliveries of one lock answered, want 1", answered)
		}
		if got := f.slash("U0OPS", flowRelease, "/deploy", "unlock demo "+env); !strings.Contains(got, "demo is unlocked in") {
			t.Fatalf("unlock: %q", got)
		}
	}
}
