package runbook

import (
	"context"
	"fmt"
	"time"
)

// OutboxEntry is an audit entry waiting in the store's outbox for the
// outgoing webhooks. The store writes it in the same transaction as the
// change it describes, so that no change is stored without its entry.
type OutboxEntry struct {
	// Pos is the entry's place in the outbox. Positions of one store sort
	// as strings in the order the entries were written; a cursor is the
	// Pos of the last entry an endpoint was given.
	Pos string
	// ID names the event for its receivers, the same on every delivery:
	// RUN-SEQ for an event of a run's trail.
	ID    string
	Audit Audit
}

// Outbox is what the webhook deliverer needs of the store: the entries in
// order, and one cursor per endpoint that survives restarts (and, on etcd,
// a change of leader).
type Outbox interface {
	// OutboxAfter returns up to limit entries after pos ("": from the
	// first), in order.
	OutboxAfter(ctx context.Context, pos string, limit int) ([]OutboxEntry, error)
	// OutboxBacklog counts the entries after pos (on etcd, those written
	// in the transaction of pos may be left out).
	OutboxBacklog(ctx context.Context, pos string) (int, error)
	// Cursor returns the position stored under name; ok is false if none.
	Cursor(ctx context.Context, name string) (pos string, ok bool, err error)
	// StartCursor stores under name the position of the newest entry,
	// unless a cursor is stored there already, and returns the cursor.
	StartCursor(ctx context.Context, name string) (string, error)
	// SetCursor stores pos under name.
	SetCursor(ctx context.Context, name, pos string) error
	// PruneOutbox drops the cursors not named in keep and the entries
	// every kept cursor has passed (all of them when keep is empty), and
	// the entries written before cutoff (zero: none) whatever the cursors
	// say. It returns how many entries it dropped, and how many of those
	// some kept cursor had not passed yet.
	PruneOutbox(ctx context.Context, keep []string, cutoff time.Time) (dropped, undelivered int, err error)
}

// OutboxEvents are the audit events that go to the outbox: every event of
// a run's trail but step output (one per line a step prints: too many for
// a webhook, and in the run's record for whoever wants them), and explicit
// locks placed and lifted.
func OutboxEvents() []string {
	return []string{
		EvRequested, EvTransition, EvTick, EvApproval, EvRejection, EvEmergency, EvStep,
		EvReminder, EvVoided, EvNote, EvCheck, EvFreeze, EvUnfreeze, AuditLock, AuditUnlock,
	}
}

// ToOutbox reports whether an event of a run's trail of type typ goes to
// the outbox.
func ToOutbox(typ string) bool { return typ != EvOutput }

// RunEventID is the ID of the outbox entry of event seq of run id.
func RunEventID(id, seq uint64) string { return fmt.Sprintf("%d-%d", id, seq) }

type actingKey struct{}

// acting is who acts, and when, in a request to the store.
type acting struct {
	user User
	at   time.Time
}

// Acting returns ctx telling the store who lifts a lock, and when, for the
// outbox's unlock entry: Store.Release is not told otherwise.
func Acting(ctx context.Context, u User, at time.Time) context.Context {
	return context.WithValue(ctx, actingKey{}, acting{user: u, at: at})
}

// ActingOf returns what Acting put in ctx; ok is false if nothing.
func ActingOf(ctx context.Context) (u User, at time.Time, ok bool) {
	a, ok := ctx.Value(actingKey{}).(acting)
	return a.user, a.at, ok
}

// AuditOfRelease is the unlock entry of the explicit lock l lifted by a
// request made with ctx: by whom and when Acting says, else by no one
// known at now.
func AuditOfRelease(ctx context.Context, l Lock, now time.Time) Audit {
	u, at, ok := ActingOf(ctx)
	if !ok {
		return AuditOfLock(AuditUnlock, l, User{}, now)
	}
	return AuditOfLock(AuditUnlock, l, u, at)
}
