package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"shipmate/internal/runbook"
	"shipmate/internal/store/storetest"
)

// termTTL is the shortest lease etcd grants with its default timing.
const termTTL = 2 * time.Second

// openLike opens another store on s's etcd and prefix: another replica.
func openLike(tb testing.TB, s *Store) *Store {
	tb.Helper()
	o, err := Open(context.Background(), Config{Endpoints: s.cfg.Endpoints, Prefix: s.cfg.Prefix})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = o.Close() })
	return o
}

// rawClient is a plain etcd client for what a test does behind the
// store's back.
func rawClient(tb testing.TB, s *Store) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: s.cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// within fails t unless ch yields within a generous bound: the bound only
// turns a hang into a failure, it is not what the test measures.
func within[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: never happened", what)
	}
	var zero T
	return zero
}

// eventually polls cond until it holds, failing t after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
	}
}

func leaderOf(t *testing.T, s *Store) string {
	t.Helper()
	name, err := s.Leader(t.Context())
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	return name
}

type campaignResult struct {
	l   *Leadership
	err error
}

func campaign(ctx context.Context, s *Store, name string) <-chan campaignResult {
	ch := make(chan campaignResult, 1)
	go func() {
		l, err := s.Campaign(ctx, name, termTTL)
		ch <- campaignResult{l, err}
	}()
	return ch
}

// Of two replicas one leads; the other takes over when it resigns.
func TestElection(t *testing.T) {
	a := openTest(t)
	b := openLike(t, a)
	ctx := t.Context()
	if got := leaderOf(t, b); got != "" {
		t.Fatalf("Leader before any campaign = %q, want none", got)
	}
	ra := within(t, "a elected", campaign(ctx, a, "replica-a"))
	if ra.err != nil {
		t.Fatalf("Campaign(a): %v", ra.err)
	}
	bWon := campaign(ctx, b, "replica-b")
	// Once b stands as a candidate, it waits for a.
	raw := rawClient(t, a)
	eventually(t, "b standing", func() bool {
		resp, err := raw.Get(ctx, a.k.leader()+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 2
	})
	select {
	case r := <-bWon:
		t.Fatalf("b elected while a leads (%v)", r.err)
	default:
	}
	if got := leaderOf(t, b); got != "replica-a" {
		t.Errorf("Leader = %q, want replica-a", got)
	}

	if err := ra.l.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	within(t, "a's Done after resigning", ra.l.Done())
	rb := within(t, "b elected", bWon)
	if rb.err != nil {
		t.Fatalf("Campaign(b): %v", rb.err)
	}
	defer rb.l.Resign(context.Background())
	if got := leaderOf(t, a); got != "replica-b" {
		t.Errorf("Leader after a resigned = %q, want replica-b", got)
	}
	if rb.l.Key() == ra.l.Key() || rb.l.Rev() <= ra.l.Rev() {
		t.Errorf("b's term (%s at %d) is not newer than a's (%s at %d)", rb.l.Key(), rb.l.Rev(), ra.l.Key(), ra.l.Rev())
	}
}

// A campaign that waits gives up when its context ends, and stands no more.
func TestCampaignGivesUp(t *testing.T) {
	a := openTest(t)
	b := openLike(t, a)
	la, err := a.Campaign(t.Context(), "replica-a", termTTL)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Resign(context.Background())
	ctx, cancel := context.WithCancel(t.Context())
	bWon := campaign(ctx, b, "replica-b")
	raw := rawClient(t, a)
	count := func() int64 {
		resp, err := raw.Get(t.Context(), a.k.leader()+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	eventually(t, "b standing", func() bool { return count() == 2 })
	cancel()
	if r := within(t, "b giving up", bWon); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Campaign after cancel = %v, want context.Canceled", r.err)
	}
	eventually(t, "b's candidacy gone", func() bool { return count() == 1 })
}

// A leader whose lease ended (as when it was paused past its TTL) can
// write nothing under its fence; the store stays as the next leader finds
// it. Without the fence the same store still writes.
func TestFencedWritesOfADeposedLeader(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	l, err := s.Campaign(ctx, "replica-a", termTTL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Resign(context.Background())
	fctx := l.Fence(ctx)

	r := storetest.NewRun("web", "prod", "1.0")
	if err := s.CreateRun(fctx, r, storetest.Ev(runbook.EvRequested, "", runbook.StateRequested)); err != nil {
		t.Fatalf("fenced CreateRun while leading: %v", err)
	}
	r.State = runbook.StateApproved
	if err := s.SaveRun(fctx, r, storetest.Ev(runbook.EvTransition, runbook.StateRequested, runbook.StateApproved)); err != nil {
		t.Fatalf("fenced SaveRun while leading: %v", err)
	}
	giveEveryWriteWork(t, s)

	// The lease expires as far as etcd knows; the leader is not told.
	raw := rawClient(t, s)
	expire(t, raw, l)

	before, beforeKeys := record(t, s, r.ID), allKeys(t, raw, s)
	writes := everyWrite(s, r)
	for name, write := range writes {
		if err := write(fctx); !errors.Is(err, ErrDeposed) {
			t.Errorf("fenced %s after the lease ended = %v, want ErrDeposed", name, err)
		}
	}
	if d := cmp.Diff(before, record(t, s, r.ID)); d != "" {
		t.Errorf("the run changed under a deposed leader (-before +after):\n%s", d)
	}
	if d := cmp.Diff(beforeKeys, allKeys(t, raw, s)); d != "" {
		t.Errorf("a deposed leader wrote (-before +after):\n%s", d)
	}

	if err := writes["SaveRun"](ctx); err != nil {
		t.Errorf("unfenced SaveRun of the same store: %v", err)
	}
	within(t, "Done after the lease ended", l.Done())
}

// giveEveryWriteWork stores what every write of everyWrite would change:
// a hold to release, a delivery to forget, a finished run to prune.
func giveEveryWriteWork(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Hold(t.Context(), runbook.Lock{App: "web", Env: "prod", Reason: "freeze"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(t.Context(), "delivery-1", time.Hour, storetest.T0); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0.1", "0.2"} {
		old := storetest.NewRun("web", "dev", v)
		storetest.MustCreate(t, s, old)
		storetest.Finish(t, s, old, runbook.StateFailed)
	}
}

func record(t *testing.T, s *Store, id uint64) *runbook.Record {
	t.Helper()
	rec, err := s.Record(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// allKeys is every key of s with its value and revision.
func allKeys(t *testing.T, raw *clientv3.Client, s *Store) map[string]string {
	t.Helper()
	resp, err := raw.Get(t.Context(), s.k.p+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = fmt.Sprintf("%s @%d", kv.Value, kv.ModRevision)
	}
	return m
}

// everyWrite holds a call of each of s's writes, against run r, by name.
func everyWrite(s *Store, r *runbook.Run) map[string]func(context.Context) error {
	changed := *r
	changed.State = runbook.StateDeploying
	return map[string]func(context.Context) error{
		"SaveRun": func(ctx context.Context) error {
			c := changed
			return s.SaveRun(ctx, &c, storetest.Ev(runbook.EvTransition, runbook.StateApproved, runbook.StateDeploying))
		},
		"CreateRun": func(ctx context.Context) error {
			return s.CreateRun(ctx, storetest.NewRun("api", "prod", "2.0"))
		},
		"AppendEvents": func(ctx context.Context) error {
			return s.AppendEvents(ctx, r.ID, storetest.Ev(runbook.EvTransition, "", ""))
		},
		"Hold": func(ctx context.Context) error {
			return s.Hold(ctx, runbook.Lock{App: "api", Env: "prod", Reason: "freeze"})
		},
		"SetRunRef": func(ctx context.Context) error { return s.SetRunRef(ctx, r.ID, "slack", "ts") },
		"Forget":    func(ctx context.Context) error { return s.Forget(ctx, "delivery-1") },
		"Once": func(ctx context.Context) error {
			_, err := s.Once(ctx, "delivery-2", time.Hour, storetest.T0)
			return err
		},
		"Release": func(ctx context.Context) error {
			_, _, err := s.Release(ctx, "web", "prod", time.Time{})
			return err
		},
		"PruneRuns": func(ctx context.Context) error {
			_, err := s.PruneRuns(ctx, storetest.T0.AddDate(1, 0, 0), 1)
			return err
		},
	}
}

// A stale save under a live fence is refused as stale, not as deposed.
func TestFenceKeepsStaleApart(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	l, err := s.Campaign(ctx, "replica-a", termTTL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Resign(context.Background())
	fctx := l.Fence(ctx)
	r := storetest.NewRun("web", "prod", "1.0")
	storetest.MustCreate(t, s, r)
	stale := *r
	storetest.MustSave(t, s, r)
	if err := s.SaveRun(fctx, &stale); !errors.Is(err, runbook.ErrStale) {
		t.Errorf("fenced SaveRun of a stale copy = %v, want ErrStale", err)
	}
	if err := s.Hold(fctx, runbook.Lock{App: "web", Env: "prod"}); err != nil {
		t.Fatalf("fenced Hold: %v", err)
	}
	var le *runbook.LockedError
	if err := s.Hold(fctx, runbook.Lock{App: "web", Env: "prod"}); !errors.As(err, &le) {
		t.Errorf("second fenced Hold = %v, want a *runbook.LockedError", err)
	}
}

// The first refused write ends the term at once: a leader with a long
// lease whose key is gone does not go on working until its keep-alive,
// a third of the lease later, notices.
func TestRefusedWriteEndsTheTerm(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	l, err := s.Campaign(ctx, "replica-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Resign(context.Background())
	raw := rawClient(t, s)
	expire(t, raw, l)
	select {
	case <-l.Done():
		t.Fatal("the term ended before anything told it")
	default:
	}
	r := storetest.NewRun("web", "prod", "1.0")
	if err := s.CreateRun(l.Fence(ctx), r); !errors.Is(err, ErrDeposed) {
		t.Fatalf("fenced CreateRun after the lease ended = %v, want ErrDeposed", err)
	}
	within(t, "Done after a refused write", l.Done())
}

// expire ends l's lease as far as etcd knows, through raw, without l's
// replica being told: as when it was paused past its TTL.
func expire(t *testing.T, raw *clientv3.Client, l *Leadership) {
	t.Helper()
	got, err := raw.Get(t.Context(), l.Key())
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("leader key %s: %v %v", l.Key(), got, err)
	}
	if _, err := raw.Revoke(t.Context(), clientv3.LeaseID(got.Kvs[0].Lease)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
}
