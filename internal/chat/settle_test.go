package chat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// A delivery's key is kept once its action is stored or refused for the
// user's reason, and given back on an internal failure, so that the
// platform's retry acts.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		err       error
		retryActs bool
	}{
		{"stored", nil, false},
		{"refused", runbook.Errorf(runbook.EForbidden, "not yours"), false},
		{"conflict", runbook.Errorf(runbook.EConflict, "already approved"), false},
		{"store failed", fmt.Errorf("save run: %w", errors.New("disk full")), true},
		{"internal error", runbook.Errorf(runbook.EInternal, "broken"), true},
		{"store unavailable", runbook.Errorf(runbook.EUnavailable, "the store is unavailable"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fakeDeduper{}
			h := &Handler{Platform: "x", Deduper: d, Now: func() time.Time { return t0 }}
			dctx, first := h.First(ctx, "cmd", "7")
			if !first {
				t.Fatal("the first delivery counts as a repeat")
			}
			h.Settle(dctx, "cmd", "7", tc.err)
			if _, got := h.First(ctx, "cmd", "7"); got != tc.retryActs {
				t.Errorf("retry acts: %v, want %v", got, tc.retryActs)
			}
		})
	}
	// A delivery without an id has no key to give back; without a deduper
	// there is nothing to forget.
	(&Handler{Platform: "x", Deduper: fakeDeduper{}, Now: time.Now}).Settle(ctx, "cmd", "", errors.New("x"))
	(&Handler{Platform: "x"}).Settle(ctx, "cmd", "7", errors.New("x"))
}

// A command's failure is returned with its reply, for Settle.
func TestCommandReturnsItsFailure(t *testing.T) {
	h := &Handler{Platform: "x", Engine: &fakeEngine{}}
	_, _, err := h.Command(context.Background(), runbook.User{}, "C1", "/rollback", "x")
	if runbook.ErrorCode(err) != runbook.EForbidden {
		t.Errorf("Command's error = %v, want the refusal", err)
	}
}
