package dump_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
	"shipmate/internal/store/dump"
	etcdstore "shipmate/internal/store/etcd"
	"shipmate/internal/store/etcd/etcdtest"
	"shipmate/internal/store/storetest"
)

// openBolt opens a store file in a folder of its own, closed when t ends.
func openBolt(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "shipmate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openEtcd opens a store under prefix on the etcd at endpoint, closed when
// t ends.
func openEtcd(t testing.TB, endpoint, prefix string) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: []string{endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// target is a store to copy into, and to check.
type target interface {
	dump.Store
	storetest.Loadable
}

// copyAndCheck copies src into dst and checks them, failing t on either.
func copyAndCheck(t *testing.T, src, dst dump.Store, loader dump.Loader) dump.Counts {
	t.Helper()
	ctx := context.Background()
	n, err := dump.Copy(ctx, src, loader)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	checked, err := dump.Check(ctx, src, dst)
	if err != nil {
		t.Fatalf("Check after Copy: %v", err)
	}
	if checked != n {
		t.Errorf("Check counted %+v, Copy %+v", checked, n)
	}
	return n
}

// A store moved from its bbolt file to etcd and back to a new file answers
// every read as before, and the bot goes on from where it was: new runs
// get new ids, the deploying run finishes, holds still hold.
func TestRoundTripBboltEtcdBbolt(t *testing.T) {
	src := openBolt(t)
	sm := storetest.FillSample(t, src)
	want := storetest.Ask(t, src, sm)

	mid := openEtcd(t, etcdtest.Start(t), "/shipmate")
	n := copyAndCheck(t, src, mid, mid)
	if d := cmp.Diff(want, storetest.Ask(t, mid, sm), storetest.IgnoreRev); d != "" {
		t.Fatalf("etcd answers differently (-bbolt +etcd):\n%s", d)
	}
	dst := openBolt(t)
	if back := copyAndCheck(t, mid, dst, dst); back != n {
		t.Errorf("copied back %+v, copied there %+v", back, n)
	}
	if d := cmp.Diff(want, storetest.Ask(t, dst, sm), storetest.IgnoreRev); d != "" {
		t.Fatalf("the store copied back answers differently (-before +after):\n%s", d)
	}

	// The summary counts what a user could count in the store.
	runs, events, holds := 0, 0, 0
	for _, rec := range want.Records {
		if rec != nil {
			runs++
			events += len(rec.Events)
		}
	}
	for _, l := range want.Locks {
		if l.RunID == 0 {
			holds++
		}
	}
	if got, wantS := n.String(), fmt.Sprintf("%d runs, %d events, %d holds, %d deployed versions", runs, events, holds, len(want.Deployed)); got != wantS {
		t.Errorf("counts %q, want %q", got, wantS)
	}

	for name, s := range map[string]storetest.Backend{"etcd": mid, "bbolt copied back": dst} {
		t.Run(name, func(t *testing.T) { goesOn(t, s, sm, want) })
	}
}

// goesOn checks that the bot can go on with a copied store.
func goesOn(t *testing.T, s storetest.Backend, sm storetest.Sample, want storetest.Answers) {
	ctx := context.Background()
	var last uint64
	for id, rec := range want.Records {
		if rec != nil {
			last = max(last, id)
		}
	}
	r := storetest.NewRun("newapp", "dev", "v1")
	storetest.MustCreate(t, s, r)
	if r.ID <= last {
		t.Errorf("a new run got id %d, not above the copied runs' (up to %d)", r.ID, last)
	}
	freeze := runbook.Lock{App: "all", Env: "production"}
	for _, l := range want.Locks {
		if l.App == freeze.App && l.Env == freeze.Env {
			freeze = l
		}
	}
	storetest.LockedBy(t, s.CreateRun(ctx, storetest.NewRun("web", "production", "v3")), freeze)

	active, err := s.Run(ctx, sm.Active.ID)
	if err != nil {
		t.Fatal(err)
	}
	storetest.LockedBy(t, s.CreateRun(ctx, storetest.NewRun("api", "staging", "v5")), storetest.RunLock(active), storetest.IgnoreReason)
	storetest.Finish(t, s, active, runbook.StateSucceeded)
	storetest.MustCreate(t, s, storetest.NewRun("api", "staging", "v5"))
	evs, err := s.Events(ctx, active.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(want.Records[active.ID].Events); len(evs) != n+1 || evs[n].Seq != uint64(n+1) {
		t.Errorf("the deploying run's trail after finishing: %d events, the last seq %d; want %d, %d", len(evs), evs[len(evs)-1].Seq, n+1, n+1)
	}
}

// A destination that already holds something is refused before anything
// is written, whichever store it is.
func TestCopyRefusesANonEmptyDestination(t *testing.T) {
	ctx := context.Background()
	src := openBolt(t)
	storetest.FillSample(t, src)
	ep := etcdtest.Start(t)
	cases := []struct {
		name string
		open func(t *testing.T) target
		fill func(t *testing.T, s storetest.Backend)
		want string
	}{
		{"bbolt with a run", func(t *testing.T) target {
			return openBolt(t)
		}, func(t *testing.T, s storetest.Backend) {
			storetest.MustCreate(t, s, storetest.NewRun("web", "dev", "v1"))
		}, "is not empty: it holds 1 run"},
		{"etcd with a run", func(t *testing.T) target {
			return openEtcd(t, ep, "/"+t.Name())
		}, func(t *testing.T, s storetest.Backend) {
			storetest.MustCreate(t, s, storetest.NewRun("web", "dev", "v1"))
		}, "is not empty: it holds 1 run"},
		{"etcd with a hold", func(t *testing.T) target {
			return openEtcd(t, ep, "/"+t.Name())
		}, func(t *testing.T, s storetest.Backend) {
			if err := s.Hold(ctx, runbook.Lock{App: "all", Env: "prod", Since: storetest.T0}); err != nil {
				t.Fatal(err)
			}
		}, "is not empty: it holds 1 hold"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := c.open(t)
			c.fill(t, dst)
			before, err := dst.Recent(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			_, err = dump.Copy(ctx, src, dst)
			var ne *dump.NotEmptyError
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Copy into a store that is not empty = %v, want a NotEmptyError saying %q", err, c.want)
			}
			after, err := dst.Recent(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(storetest.IDs(before), storetest.IDs(after)) {
				t.Errorf("the refused destination's runs went from %v to %v", storetest.IDs(before), storetest.IDs(after))
			}
		})
	}
}
