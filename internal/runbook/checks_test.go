package runbook_test

import (
	"context"
	"sync"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// fakeChecker answers automated checks from a table tests change.
type fakeChecker struct {
	mu      sync.Mutex
	results map[string]rb.CheckResult
	calls   int
}

func (c *fakeChecker) Check(_ context.Context, j rb.Job, item string) (rb.CheckResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.results[item], nil
}

func (c *fakeChecker) set(item string, res rb.CheckResult) {
	c.mu.Lock()
	c.results[item] = res
	c.mu.Unlock()
}

func checkedHarness(t *testing.T) (*harness, *runbooktest.Exec, *fakeChecker) {
	fx := newExec()
	ck := &fakeChecker{results: map[string]rb.CheckResult{
		"tests":    {OK: true, Detail: "ci/demo #412: SUCCESS", Link: "https://jenkins.example.com/job/ci/job/demo/412/"},
		"artifact": {OK: false, Detail: "no build of release/demo for v1 among the last 50", Link: "https://jenkins.example.com/job/release/job/demo/"},
	}}
	h := newHarnessWith(t, fx, func(c *rb.Config) {
		c.Policy.Apps["demo"] = rb.App{Name: "demo", Checks: []string{"tests", "artifact"}}
		c.Checkers = map[string]rb.Checker{"demo": ck}
	})
	return h, fx, ck
}

func TestAutomatedChecksTickAndBlock(t *testing.T) {
	h, fx, ck := checkedHarness(t)
	id := h.Must("bob", "/deploy demo v1 staging")
	r := h.Run(id)
	byKey := map[string]rb.CheckItem{}
	for _, it := range r.Checklist {
		byKey[it.Key] = it
	}
	if it := byKey["tests"]; !it.Auto || !it.Done || it.By == nil || it.By.ID != "shipmate" || it.Link == "" {
		t.Fatalf("tests item = %+v, want ticked by Shipmate with a link", it)
	}
	if it := byKey["artifact"]; !it.Auto || it.Done || it.Detail != "no build of release/demo for v1 among the last 50" {
		t.Fatalf("artifact item = %+v, want blocked with the reason", it)
	}
	// People cannot tick automated items.
	err := h.Act("alice", id, rb.ButtonTick, "artifact")
	contains(t, rb.ErrorMessage(err), "“Build artifact created and tagged” is checked by Shipmate (no build of release/demo for v1 among the last 50); it cannot be ticked by hand")
	m := h.Chat.Message(r.Origin.MessageRef)
	for _, it := range m.Items {
		if it.Auto && it.Editable {
			t.Fatalf("automated item %s shown as editable", it.Key)
		}
	}
	h.Act("alice", id, rb.ButtonTick, "merged")
	h.Act("alice", id, rb.ButtonTick, "plan")
	err = h.Act("alice", id, rb.ButtonApprove, "")
	contains(t, rb.ErrorMessage(err), "1 of 4 checklist items are open (“Build artifact created and tagged”)")

	// The release build appears; the next recheck ticks the item.
	ck.set("artifact", rb.CheckResult{OK: true, Detail: "release/demo #88 has demo-v1.tar.gz", Link: "https://jenkins.example.com/job/release/job/demo/88/"})
	h.Tick()
	h.WantState(id, rb.StateChecklist) // not yet due
	h.Clock.Add(31 * time.Second)
	h.Tick()
	h.WantState(id, rb.StateAwaitingApproval)
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateSucceeded)
	if fx.Deploys() != 1 {
		t.Fatalf("deploys = %d", fx.Deploys())
	}
	var audit []string
	for _, ev := range h.Events(id) {
		if ev.Type == rb.EvCheck {
			audit = append(audit, ev.Detail)
		}
	}
	if len(audit) != 3 {
		t.Fatalf("check events = %q, want tests passes, artifact fails, artifact passes", audit)
	}
}

func TestAutomatedCheckFailingBeforeExecutionVoidsApproval(t *testing.T) {
	h, fx, ck := checkedHarness(t)
	ck.set("artifact", rb.CheckResult{OK: true, Detail: "release/demo #88 has demo-v1.tar.gz"})
	id := h.Must("bob", "/deploy demo v1 staging")
	h.Act("alice", id, rb.ButtonTick, "merged")
	h.Act("alice", id, rb.ButtonTick, "plan")
	h.WantState(id, rb.StateAwaitingApproval)
	// CI turns red after approval was asked for.
	ck.set("tests", rb.CheckResult{OK: false, Detail: "ci/demo #413 for v1 is FAILURE", Link: "https://jenkins.example.com/job/ci/job/demo/413/"})
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	r := h.Run(id)
	if r.State != rb.StateChecklist || len(r.Approvals) != 0 || fx.Deploys() != 0 {
		t.Fatalf("state %s, %d approvals, %d deploys: a failing check must stop the deploy", r.State, len(r.Approvals), fx.Deploys())
	}
	contains(t, r.Note, "an automated check fails now, approvals are void: “All tests passing: ci/demo #413 for v1 is FAILURE”")
}
