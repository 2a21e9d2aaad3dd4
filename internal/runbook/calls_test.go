package runbook_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// callReplies are the thread replies that call someone about run id: they
// mention them.
func callReplies(h *harness, id uint64) []runbooktest.Reply {
	var out []runbooktest.Reply
	for _, r := range h.Chat.Replies() {
		if len(r.M.Mentions) > 0 && r.M.RunID == id {
			out = append(out, r)
		}
	}
	return out
}

// eventsOf returns run id's events of type typ, by detail.
func eventsOf(h *harness, id uint64, typ string) []string {
	var out []string
	for _, ev := range h.Events(id) {
		if ev.Type == typ {
			out = append(out, ev.Detail)
		}
	}
	return out
}

// A run waiting for approval mentions its approvers in its thread once,
// never the requester where they may not approve, and the reminder
// mentions them again in the channel; people with no identity on the
// chat are named.
func TestApproversAreCalled(t *testing.T) {
	h := newHarnessWith(t, newExec(), func(c *rb.Config) {
		c.Policy.People["rhea"] = rb.Person{IDs: map[string][]string{"slack": {"U0RHEA"}}}
		c.Policy.Roles["release-manager"] = rb.Role{People: []string{"rhea", "bob"},
			Members: map[string][]string{"web": {"rita"}}, Groups: map[string][]string{"web": {"releasers"}}}
	})
	h.DeployTo("v1", "staging")
	id := h.Must("bob", `/deploy demo v1 production --reason "ship <@U999> @everyone"`)
	h.Tick()
	if got := callReplies(h, id); len(got) != 0 {
		t.Fatalf("approvers called while the checklist is open: %+v", got)
	}
	h.TickAll("bob", id)
	h.Tick()
	calls := callReplies(h, id)
	if len(calls) != 1 {
		t.Fatalf("calls = %+v, want one", calls)
	}
	want := []rb.Mention{
		{Platform: "web", ID: "rita", Name: "rita"},
		{Platform: "web", ID: "releasers", Group: true, Name: "release-manager group releasers"},
	}
	if !reflect.DeepEqual(calls[0].M.Mentions, want) {
		t.Errorf("mentions\n got %+v\nwant %+v", calls[0].M.Mentions, want)
	}
	contains(t, calls[0].M.Text, "Run #2 (demo v1 → production, requested by bob) needs approval by release-manager (rhea) (0 of 1)")
	if !strings.HasPrefix(calls[0].Ref, "general/") {
		t.Errorf("called in %s, want the run's thread", calls[0].Ref)
	}

	h.Clock.Add(23*time.Hour + time.Minute)
	h.Tick()
	h.Tick()
	notes := h.Chat.Notices()
	if len(notes) != 1 {
		t.Fatalf("reminders = %q, want one", notes)
	}
	contains(t, notes[0], "Reminder: run #2 (demo v1 → production, requested by bob) still needs approval by release-manager (rhea)")
	var reminder rb.Message
	for _, m := range h.Chat.Posts() {
		if m.Status == "" {
			reminder = m
		}
	}
	if !reflect.DeepEqual(reminder.Mentions, want) {
		t.Errorf("reminder mentions\n got %+v\nwant %+v", reminder.Mentions, want)
	}
	if got := eventsOf(h, id, rb.EvCall); len(got) != 2 {
		t.Errorf("call events = %q, want the call and the reminder", got)
	}
	if r := h.Run(id); len(r.Calls) != 2 || !r.Calls[0].Done || !r.Calls[1].Done {
		t.Errorf("calls = %+v, want two done", r.Calls)
	}
}

// dmHarness deploys on a chat with direct messages.
func dmHarness(t *testing.T, adjust func(c *rb.Config)) (*harness, *runbooktest.DMChat) {
	dm := &runbooktest.DMChat{}
	h := newHarnessWith(t, newExec(runbooktest.Verify), func(c *rb.Config) {
		c.Chats = map[string]rb.Chat{"web": dm}
		if adjust != nil {
			adjust(c)
		}
	})
	return h, dm
}

// The requester is told in a direct message when their run is approved and
// when it succeeds, rejected, or fails, each once, with a link to the run.
func TestRequesterIsToldInADirectMessage(t *testing.T) {
	h, dm := dmHarness(t, nil)
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("alice", id)
	if err := h.Act("alice", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.Tick()
	h.WantState(id, rb.StateSucceeded)
	id2 := h.Must("bob", "/deploy demo v2 staging")
	h.TickAll("alice", id2)
	if _, err := h.Engine.Act(context.Background(), rb.User{Platform: "web", ID: "alice"}, id2, rb.ButtonReject, "not today"); err != nil {
		t.Fatal(err)
	}
	h.Settle()
	h.Exec.Fail("v3")
	id3 := h.Must("bob", "/deploy demo v3 dev")
	h.WantState(id3, rb.StateFailed)
	h.Restart()
	h.Settle()

	var got []string
	for _, d := range dm.DMs() {
		if d.User != "bob" {
			t.Errorf("direct message to %s: %q", d.User, d.M.Text)
		}
		if d.M.Related == nil || d.M.Related.MessageRef == "" {
			t.Errorf("direct message %q links no message", d.M.Text)
		}
		got = append(got, d.M.Text)
	}
	want := []string{
		"Your run #1 (demo v1 → staging) was approved by alice",
		"Your run #1 (demo v1 → staging) succeeded: demo v1 is live in staging",
		"Your run #2 (demo v2 → staging) was rejected by alice: not today",
		"Your run #3 (demo v3 → development) failed: deploying failed:",
	}
	if len(got) != len(want) {
		t.Fatalf("direct messages\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		contains(t, got[i], want[i])
	}
}

// With notify_approvers: dm each approver gets a direct message with a
// link to the run's message instead of a mention; a failure is recorded
// in the trail, never dropped silently.
func TestApproversByDirectMessage(t *testing.T) {
	h, dm := dmHarness(t, func(c *rb.Config) {
		runbooktest.WithEnv("staging", func(e *rb.Environment) { e.NotifyApprovers = rb.NotifyDM })(c.Policy)
		c.Policy.Roles["tech-lead"] = rb.Role{Members: map[string][]string{"web": {"alice", "tom"}}}
	})
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("bob", id)
	var to []string
	for _, d := range dm.DMs() {
		to = append(to, d.User)
		contains(t, d.M.Text, "Run #1 (demo v1 → staging, requested by bob) needs approval by tech-lead")
		if d.M.Related == nil || d.M.Related.MessageRef == "" {
			t.Errorf("direct message %q links no message", d.M.Text)
		}
	}
	if !reflect.DeepEqual(to, []string{"alice", "tom"}) {
		t.Errorf("direct messages to %q, want alice and tom", to)
	}
	if got := callReplies(h, id); len(got) != 0 {
		t.Errorf("mentioned as well: %+v", got)
	}

	dm.Fail(errors.New("im:write missing"))
	h.Clock.Add(23*time.Hour + time.Minute)
	h.Tick()
	contains(t, strings.Join(eventsOf(h, id, rb.EvCall), "\n"), "could not call (reminder): direct message to alice: im:write missing")
}

// A call is made once: not again after a restart, nor by a second
// replica that stored the change; the leader makes it when it sees it.
func TestCallsAreMadeOnce(t *testing.T) {
	h := newHarness(t, newExec())
	id := h.Must("bob", "/deploy demo v1 staging")
	replica := h.Replica()
	for _, it := range h.Run(id).Checklist {
		if _, err := replica.Act(context.Background(), rb.User{Platform: "web", ID: "bob"}, id, rb.ButtonTick, it.Key); err != nil {
			t.Fatal(err)
		}
	}
	if r := h.Run(id); len(r.Calls) != 1 || r.Calls[0].Done || !r.Calls[0].Claimed.IsZero() {
		t.Fatalf("calls stored by the follower = %+v, want one, not made", r.Calls)
	}
	if got := callReplies(h, id); len(got) != 0 {
		t.Fatalf("the follower called: %+v", got)
	}
	h.Engine.Changed(context.Background(), id)
	h.Settle()
	h.Engine.Changed(context.Background(), id)
	h.Settle()
	h.Restart()
	h.Settle()
	h.Tick()
	if got := callReplies(h, id); len(got) != 1 {
		t.Fatalf("calls = %+v, want one", got)
	}
}

// A call claimed by a process that died before marking it done is made
// again by the next one, as its outcome is unknown.
func TestClaimedCallIsMadeAgainAfterARestart(t *testing.T) {
	h := newHarness(t, newExec())
	id := h.Must("bob", "/deploy demo v1 staging")
	h.TickAll("bob", id)
	r := h.Run(id)
	r.Calls[0].Done = false
	if err := h.Store.SaveRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h.Restart()
	h.Settle()
	if got := callReplies(h, id); len(got) != 2 {
		t.Fatalf("calls = %d, want the first and the one made again", len(got))
	}
}
