package chat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// A checklist click changes only what it changed from the view its user
// saw, and only what the run does not have so already.
func TestChanges(t *testing.T) {
	items := []runbook.CheckItem{
		{Key: "merged", Done: true}, {Key: "tests"}, {Key: "notes", Done: true}, {Key: "ci", Auto: true},
	}
	for _, tc := range []struct {
		name     string
		selected []string
		shown    map[string]bool
		want     []Change
	}{
		{"tick", []string{"merged", "tests", "notes"}, nil, []Change{{"tests", true}}},
		{"untick", []string{"merged"}, nil, []Change{{"notes", false}}},
		{"automated items are not ticked by hand", []string{"merged", "notes", "ci"}, nil, nil},
		// The user saw only "merged" ticked: "notes", ticked since by
		// someone else, is not unticked by this click.
		{"stale view", []string{"merged", "tests"}, map[string]bool{"merged": true}, []Change{{"tests", true}}},
		// The user saw "tests" ticked and unticks it: it is unticked
		// already, so nothing is done.
		{"already so", []string{"merged", "notes"}, map[string]bool{"merged": true, "tests": true, "notes": true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Changes(items, tc.selected, tc.shown)); diff != "" {
				t.Errorf("Changes (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeEngine records actions and refuses those on run 0.
type fakeEngine struct {
	acts []string
	run  *runbook.Run
}

func (e *fakeEngine) Command(ctx context.Context, u runbook.User, o runbook.Origin, c, t string) (runbook.Reply, bool, error) {
	switch c {
	case "/deploy":
		return runbook.Reply{Text: "ok " + t + " in " + o.Channel + " on " + o.Platform}, true, nil
	case "/rollback":
		return runbook.Reply{}, true, runbook.Errorf(runbook.EForbidden, "not yours")
	}
	return runbook.Reply{}, false, nil
}

func (e *fakeEngine) Act(ctx context.Context, u runbook.User, id uint64, a runbook.ButtonAction, arg string) (runbook.Reply, error) {
	e.acts = append(e.acts, string(a)+" "+arg)
	if arg == "notes" {
		return runbook.Reply{}, runbook.Errorf(runbook.EForbidden, "no")
	}
	return runbook.Reply{}, nil
}

func (e *fakeEngine) Message(r *runbook.Run) runbook.Message {
	return runbook.Message{Buttons: []runbook.Button{{Action: runbook.ButtonApprove}, {Action: runbook.ButtonReject, Confirm: "Reject #4?"}}}
}

func (e *fakeEngine) Run(ctx context.Context, id uint64) (*runbook.Run, error) {
	if id != 4 {
		return nil, runbook.ErrRunNotFound
	}
	return e.run, nil
}

// fakeDeduper remembers keys.
type fakeDeduper map[string]bool

func (d fakeDeduper) Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	if key == "x:act:broken" {
		return false, errors.New("store down")
	}
	if d[key] {
		return false, nil
	}
	d[key] = true
	return true, nil
}

func (d fakeDeduper) Forget(ctx context.Context, key string) error {
	delete(d, key)
	return nil
}

func TestHandler(t *testing.T) {
	e := &fakeEngine{run: &runbook.Run{ID: 4, State: runbook.StateAwaitingApproval,
		Checklist: []runbook.CheckItem{{Key: "tests"}, {Key: "notes"}, {Key: "docs"}}}}
	d := fakeDeduper{}
	h := &Handler{Platform: "x", Engine: e, Runs: e, Deduper: d, Now: func() time.Time { return t0 }}
	ctx := context.Background()

	first := func(kind, id string) bool { _, ok := h.First(ctx, kind, id); return ok }
	if !first("cmd", "1") || first("cmd", "1") || !first("act", "1") || !first("", "1") ||
		!first("cmd", "") || !first("act", "broken") {
		t.Errorf("First: deliveries told apart wrongly; keys %v", d)
	}
	if !d["x:cmd:1"] || !d["x:1"] {
		t.Errorf("dedupe keys %v", d)
	}

	if got, ok, _ := h.Command(ctx, runbook.User{}, "C1", "/deploy", "status"); !ok || got != "ok status in C1 on x" {
		t.Errorf("Command = %q %v", got, ok)
	}
	if got, ok, _ := h.Command(ctx, runbook.User{}, "C1", "/rollback", "x"); !ok || got != "not yours" {
		t.Errorf("refused Command = %q %v", got, ok)
	}
	if got, ok, _ := h.Command(ctx, runbook.User{}, "C1", "/other", ""); ok || got != UnknownCommand {
		t.Errorf("unknown Command = %q %v", got, ok)
	}

	all := func(items []runbook.CheckItem) []runbook.CheckItem { return items }
	err := h.Tick(ctx, runbook.User{}, 4, all, []string{"tests", "notes", "docs"}, nil)
	if runbook.ErrorCode(err) != runbook.EForbidden || len(e.acts) != 3 {
		t.Errorf("Tick = %v after %q: want every tick tried and the refusal", err, e.acts)
	}
	if err := h.Tick(ctx, runbook.User{}, 5, all, nil, nil); runbook.ErrorCode(err) != runbook.ENotFound {
		t.Errorf("Tick on a missing run = %v", err)
	}

	if b, refusal := h.Question(ctx, 4, runbook.ButtonReject); refusal != "" || b.Confirm != "Reject #4?" {
		t.Errorf("Question = %+v %q", b, refusal)
	}
	if _, refusal := h.Question(ctx, 4, runbook.ButtonRollback); refusal != "Run #4 no longer offers that: it is awaiting approval." {
		t.Errorf("Question for a button the run lacks: %q", refusal)
	}
	if _, refusal := h.Question(ctx, 5, runbook.ButtonReject); refusal != "There is no run #5." {
		t.Errorf("Question on a missing run: %q", refusal)
	}
	if got := Done(runbook.ButtonRollback, 4); got != "Done: rolling back run #4." {
		t.Errorf("Done = %q", got)
	}
}
