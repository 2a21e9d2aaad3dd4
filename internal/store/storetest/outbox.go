package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// OutboxBackend is a backend whose changes write the outbox.
type OutboxBackend interface {
	Backend
	runbook.Outbox
}

// RunOutbox runs the outbox's contract: on is a fresh backend with the
// outbox on, off one with it off.
func RunOutbox(t *testing.T, on, off func(tb testing.TB) OutboxBackend) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s OutboxBackend)
	}{
		{"ChangesWriteEntriesInOrder", outboxEntriesInOrder},
		{"RefusedChangesWriteNothing", outboxRefusedWritesNothing},
		{"PagesInOrder", outboxPages},
		{"PagesThroughOneCommit", outboxOneCommit},
		{"Cursors", outboxCursors},
		{"Prune", outboxPrune},
		{"ConcurrentWritersLoseNothing", outboxConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, on(t)) })
	}
	t.Run("OffWritesNothing", func(t *testing.T) {
		s := off(t)
		r := NewRun("web", "prod", "v1")
		MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
		Finish(t, s, r, runbook.StateCancelled)
		if err := s.Hold(context.Background(), runbook.Lock{App: "web", Env: "prod", Holder: bob, Since: T0}); err != nil {
			t.Fatal(err)
		}
		if got := allEntries(t, s); len(got) != 0 {
			t.Errorf("outbox off, yet it holds %d entries: %v", len(got), got)
		}
	})
}

// allEntries reads the whole outbox.
func allEntries(t testing.TB, s OutboxBackend) []runbook.OutboxEntry {
	t.Helper()
	got, err := s.OutboxAfter(context.Background(), "", 100000)
	if err != nil {
		t.Fatalf("OutboxAfter: %v", err)
	}
	return got
}

// brief is an entry without its position, time and reason.
type brief struct {
	ID, Event, App, Env, Person string
	Run, Seq                    uint64
	From, To                    runbook.State
}

func briefs(es []runbook.OutboxEntry) []brief {
	out := []brief{}
	for _, e := range es {
		a := e.Audit
		out = append(out, brief{e.ID, a.Event, a.App, a.Env, a.Person, a.Run, a.Seq, a.From, a.To})
	}
	return out
}

func outboxEntriesInOrder(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
	r.State = runbook.StateChecklist
	MustSave(t, s, r, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateChecklist),
		runbook.Event{At: T0, Type: runbook.EvOutput, Detail: "a line of output"})
	tick := ev(runbook.EvTick, "", "")
	tick.Actor = &bob
	if err := s.AppendEvents(ctx, r.ID, tick, runbook.Event{At: T0, Type: runbook.EvOutput, Detail: "more"}); err != nil {
		t.Fatal(err)
	}
	lock := runbook.Lock{App: "api", Env: "prod", Holder: alice, Reason: "db work", Since: T0}
	if err := s.Hold(ctx, lock); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Release(runbook.Acting(ctx, bob, T0.Add(time.Minute)), "api", "prod", time.Time{}); err != nil {
		t.Fatal(err)
	}
	// An incident freeze is on its run's trail already, and a rollback
	// lifts and puts it back: no entries of its own.
	freeze := runbook.Lock{App: "web", Env: "prod", Holder: bob, Since: T0, IncidentRun: r.ID}
	if err := s.Hold(ctx, freeze); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Release(ctx, "web", "prod", time.Time{}); err != nil {
		t.Fatal(err)
	}

	got := allEntries(t, s)
	id := r.ID
	want := []brief{
		{runbook.RunEventID(id, 1), runbook.EvRequested, "web", "prod", "alice", id, 1, "", ""},
		{runbook.RunEventID(id, 2), runbook.EvTransition, "web", "prod", "alice", id, 2, runbook.StateRequested, runbook.StateChecklist},
		{runbook.RunEventID(id, 4), runbook.EvTick, "web", "prod", "bob", id, 4, "", ""},
		{got[min(3, len(got)-1)].ID, runbook.AuditLock, "api", "prod", "alice", 0, 0, "", ""},
		{got[min(4, len(got)-1)].ID, runbook.AuditUnlock, "api", "prod", "bob", 0, 0, "", ""},
	}
	if d := cmp.Diff(want, briefs(got)); d != "" {
		t.Fatalf("outbox (-want +got):\n%s", d)
	}
	if got[3].ID == got[4].ID || got[3].ID == "" {
		t.Errorf("lock and unlock ids %q, %q: want two distinct ids", got[3].ID, got[4].ID)
	}
	if got[3].Audit.Reason != "db work" || !got[4].Audit.At.Equal(T0.Add(time.Minute)) {
		t.Errorf("unlock entry = %+v, want the lock's reason and the time it was lifted", got[4].Audit)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Pos <= got[i-1].Pos {
			t.Errorf("position %d %q is not after %q", i, got[i].Pos, got[i-1].Pos)
		}
	}
	// An entry reads the same every time: receivers dedupe by its id.
	if again := allEntries(t, s); !cmp.Equal(got, again) {
		t.Errorf("the outbox read twice differs:\n%v\n%v", got, again)
	}
}

func outboxRefusedWritesNothing(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	r := NewRun("web", "prod", "v1")
	MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
	if err := s.CreateRun(ctx, NewRun("web", "prod", "v2"), ev(runbook.EvRequested, "", "")); err == nil {
		t.Fatal("a second run took a held lock")
	}
	stale := *r
	stale.Rev = 99
	if err := s.SaveRun(ctx, &stale, ev(runbook.EvNote, "", "")); err == nil {
		t.Fatal("a stale save was stored")
	}
	if err := s.AppendEvents(ctx, 999, ev(runbook.EvNote, "", "")); err == nil {
		t.Fatal("events were appended to a missing run")
	}
	lock := runbook.Lock{App: "api", Env: "prod", Holder: alice, Since: T0}
	for range 2 {
		_ = s.Hold(ctx, lock) // the second is refused
	}
	if _, ok, err := s.Release(ctx, "never", "held", time.Time{}); err != nil || ok {
		t.Fatalf("Release of nothing = %v, %v", ok, err)
	}
	if got := briefs(allEntries(t, s)); len(got) != 2 || got[0].Event != runbook.EvRequested || got[1].Event != runbook.AuditLock {
		t.Errorf("outbox = %+v, want only the first run's request and one lock", got)
	}
}

// makeEntries writes n run events to the outbox, over new runs.
func makeEntries(t testing.TB, s OutboxBackend, n int) {
	var r *runbook.Run
	for i := range n {
		if i%3 == 0 {
			r = NewRun(fmt.Sprintf("app-%d", made.Add(1)), "prod", "v1")
			MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
			continue
		}
		if err := s.AppendEvents(context.Background(), r.ID, ev(runbook.EvNote, "", "")); err != nil {
			t.Fatal(err)
		}
	}
}

// made numbers the apps of makeEntries.
var made atomic.Int64

func outboxPages(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	makeEntries(t, s, 11)
	all := allEntries(t, s)
	if len(all) != 11 {
		t.Fatalf("%d entries, want 11", len(all))
	}
	var paged []runbook.OutboxEntry
	pos := ""
	for {
		page, err := s.OutboxAfter(ctx, pos, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Errorf("page of %d entries, limit 3", len(page))
		}
		paged = append(paged, page...)
		pos = page[len(page)-1].Pos
	}
	if d := cmp.Diff(all, paged); d != "" {
		t.Errorf("pages of 3 (-all +paged):\n%s", d)
	}
}

// Entries written by one commit are read one page at a time like any
// others, down to a page of one, and nothing is left after the last.
func outboxOneCommit(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	r := NewRun("batch", "prod", "v1")
	MustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
	if err := s.AppendEvents(ctx, r.ID, ev(runbook.EvNote, "", ""), ev(runbook.EvNote, "", ""), ev(runbook.EvNote, "", "")); err != nil {
		t.Fatal(err)
	}
	all := allEntries(t, s)
	if len(all) != 4 {
		t.Fatalf("%d entries, want 4", len(all))
	}
	var paged []runbook.OutboxEntry
	pos := ""
	for range 10 {
		page, err := s.OutboxAfter(ctx, pos, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if n, err := s.OutboxBacklog(ctx, pos); err != nil || n != len(all)-len(paged) {
			t.Errorf("backlog after %d entries = %d, %v; want %d", len(paged), n, err, len(all)-len(paged))
		}
		paged = append(paged, page...)
		pos = page[len(page)-1].Pos
	}
	if d := cmp.Diff(all, paged); d != "" {
		t.Errorf("pages of 1 (-all +paged):\n%s", d)
	}
	if n, err := s.OutboxBacklog(ctx, pos); err != nil || n != 0 {
		t.Errorf("backlog after the last entry = %d, %v; want 0", n, err)
	}
}

func outboxCursors(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	if _, ok, err := s.Cursor(ctx, "a"); err != nil || ok {
		t.Fatalf("Cursor of nothing = %v, %v", ok, err)
	}
	makeEntries(t, s, 4)
	start, err := s.StartCursor(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.OutboxAfter(ctx, start, 10); err != nil || len(got) != 0 {
		t.Fatalf("after a new cursor: %v, %v; want nothing (a new endpoint starts at the end)", got, err)
	}
	if n, err := s.OutboxBacklog(ctx, start); err != nil || n != 0 {
		t.Errorf("backlog at the end = %d, %v", n, err)
	}
	MustCreate(t, s, NewRun("late", "prod", "v1"), ev(runbook.EvRequested, "", ""))
	got, err := s.OutboxAfter(ctx, start, 10)
	if err != nil || len(got) != 1 || got[0].Audit.App != "late" {
		t.Fatalf("after the cursor: %+v, %v; want the late run's request", got, err)
	}
	if n, err := s.OutboxBacklog(ctx, start); err != nil || n != 1 {
		t.Errorf("backlog = %d, %v; want 1", n, err)
	}
	if again, err := s.StartCursor(ctx, "a"); err != nil || again != start {
		t.Errorf("StartCursor again = %q, %v; want the stored %q", again, err, start)
	}
	if err := s.SetCursor(ctx, "a", got[0].Pos); err != nil {
		t.Fatal(err)
	}
	if pos, ok, err := s.Cursor(ctx, "a"); err != nil || !ok || pos != got[0].Pos {
		t.Errorf("Cursor = %q, %v, %v; want %q", pos, ok, err, got[0].Pos)
	}
}

func outboxPrune(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	makeEntries(t, s, 6)
	all := allEntries(t, s)
	for name, at := range map[string]int{"a": 1, "b": 3, "gone": 0} {
		if err := s.SetCursor(ctx, name, all[at].Pos); err != nil {
			t.Fatal(err)
		}
	}
	dropped, undelivered, err := s.PruneOutbox(ctx, []string{"a", "b"}, time.Time{})
	if err != nil || dropped != 2 || undelivered != 0 {
		t.Fatalf("PruneOutbox = %d, %d, %v; want 2 dropped (what a and b passed)", dropped, undelivered, err)
	}
	if d := cmp.Diff(all[2:], allEntries(t, s)); d != "" {
		t.Errorf("left (-want +got):\n%s", d)
	}
	if _, ok, _ := s.Cursor(ctx, "gone"); ok {
		t.Error("the cursor of an endpoint no longer configured was kept")
	}
	// Past the cutoff even what is not delivered goes.
	dropped, undelivered, err = s.PruneOutbox(ctx, []string{"a", "b"}, T0.Add(time.Second))
	if err != nil || dropped != 4 || undelivered != 4 {
		t.Errorf("PruneOutbox past the cutoff = %d, %d, %v; want 4, 4", dropped, undelivered, err)
	}
	makeEntries(t, s, 1)
	if _, _, err := s.PruneOutbox(ctx, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := allEntries(t, s); len(got) != 0 {
		t.Errorf("with no endpoint %d entries are kept", len(got))
	}
}

func outboxConcurrent(t *testing.T, s OutboxBackend) {
	ctx := context.Background()
	const writers, each = 12, 6
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for i := range writers {
		wg.Go(func() {
			r := NewRun(fmt.Sprintf("w-%02d", i), "prod", "v1")
			if err := s.CreateRun(ctx, r, ev(runbook.EvRequested, "", "")); err != nil {
				errs <- err
				return
			}
			for range each {
				if err := s.AppendEvents(ctx, r.ID, ev(runbook.EvNote, "", "")); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := allEntries(t, s)
	if len(got) != writers*(each+1) {
		t.Fatalf("%d entries, want %d", len(got), writers*(each+1))
	}
	last := map[uint64]uint64{}
	ids := map[string]bool{}
	for _, e := range got {
		if e.Audit.Seq != last[e.Audit.Run]+1 {
			t.Errorf("run %d: entry seq %d after %d", e.Audit.Run, e.Audit.Seq, last[e.Audit.Run])
		}
		last[e.Audit.Run] = e.Audit.Seq
		if ids[e.ID] {
			t.Errorf("id %s twice", e.ID)
		}
		ids[e.ID] = true
	}
	if !slices.IsSortedFunc(got, func(a, b runbook.OutboxEntry) int { return strings.Compare(a.Pos, b.Pos) }) {
		t.Error("entries are not in position order")
	}
}
