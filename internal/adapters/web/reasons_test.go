package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"shipmate/internal/runbook"
)

// A reason typed in the console's dialog gets the rules of a typed one: at
// most 500 characters, no control characters. A refused one changes
// nothing.
func TestRejectReasonBoundedOnTheConsole(t *testing.T) {
	c := newConsole(t, "")
	if rep := c.command(t, "bob", "/deploy demo v1 staging"); rep.Error || rep.RunID != 1 {
		t.Fatalf("bob's deploy: %+v", rep)
	}
	for _, reason := range []string{strings.Repeat("r", 501), "looks fine\x1b]8;;https://evil.example\x07click\x1b]8;;\x07"} {
		code, rep := c.post(t, "/api/runs/1/action", jsonHeader(), map[string]string{"user": "alice", "action": "reject", "reason": reason})
		if code != http.StatusOK || !rep.Error || rep.Code != runbook.EInvalid {
			t.Errorf("reject with %.20q…: %d %+v, want a refusal", reason, code, rep)
		}
	}
	rec, err := c.store.Record(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.State == runbook.StateRejected {
		t.Fatalf("a refused reason rejected the run: %s", rec.Run.Note)
	}
}
