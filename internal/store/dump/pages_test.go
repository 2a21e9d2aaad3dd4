package dump_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
	"shipmate/internal/store/dump"
	"shipmate/internal/store/etcd/etcdtest"
	"shipmate/internal/store/storetest"
)

// synthetic is a dump of n runs of perRun events, more than one
// transaction in both stores, and one run with more events than etcd's
// dump reads at a time: every
// tenth id is missing (retention), every run has a chat reference and
// every seventh two, every eleventh is still running.
func synthetic(n, perRun int) []dump.Item {
	items := []dump.Item{dump.Counter{LastID: uint64(n + 3)}}
	for i := 1; i <= n; i++ {
		if i%10 == 0 {
			continue
		}
		r := storetest.NewRun(fmt.Sprintf("app%d", i%4), []string{"dev", "staging", "prod"}[i%3], fmt.Sprintf("v%d", i))
		r.ID, r.Rev, r.State = uint64(i), 3, runbook.StateFailed
		r.CreatedAt = storetest.T0.Add(time.Duration(i) * time.Minute)
		r.UpdatedAt = r.CreatedAt
		if i%11 == 0 {
			r.App, r.State = fmt.Sprintf("live%d", i), runbook.StateMonitoring
		}
		it := dump.Run{Run: r}
		events := perRun
		if i == 555 {
			events = 6000 // a long step's output: more than a page
		}
		for s := 1; s <= events; s++ {
			e := storetest.Ev(runbook.EvOutput, "", "")
			e.Seq, e.Detail = uint64(s), fmt.Sprintf("line %d of run %d", s, i)
			it.Events = append(it.Events, e)
		}
		it.Refs = map[string]string{"slack.summary": fmt.Sprintf("C1/%d", i)}
		if i%7 == 0 {
			it.Refs["a/b c"] = "an odd name"
		}
		items = append(items, it)
	}
	return append(items,
		dump.Hold{Lock: runbook.Lock{App: "all", Env: "prod", Holder: runbook.User{Platform: "slack", ID: "U2", Person: "bob"}, Since: storetest.T0}},
		dump.Deployed{App: "app/1", Env: "prod", Deployed: runbook.Deployed{Version: "v1/2", RunID: 10, At: storetest.T0}},
		dump.Succeeded{App: "app/1", Env: "staging", Version: "v1/2", RunID: 9})
}

func seq(items []dump.Item) func(yield func(dump.Item, error) bool) {
	return func(yield func(dump.Item, error) bool) {
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}

func dumped(t *testing.T, s dump.Dumper) []dump.Item {
	t.Helper()
	var out []dump.Item
	if err := s.Dump(context.Background(), func(it dump.Item) error { out = append(out, it); return nil }); err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return out
}

// Both stores give back exactly what they were loaded with, in order,
// across pages and transactions; and an etcd dump is one moment of the
// store, whatever is written while it runs.
func TestDumpGivesBackWhatWasLoaded(t *testing.T) {
	ctx := context.Background()
	items := synthetic(1300, 6)
	etcd := openEtcd(t, etcdtest.Start(t), "/shipmate")
	if err := etcd.Load(ctx, seq(items)); err != nil {
		t.Fatalf("etcd Load: %v", err)
	}
	bolt := openBolt(t)
	if err := bolt.Load(ctx, seq(items)); err != nil {
		t.Fatalf("bbolt Load: %v", err)
	}
	for name, s := range map[string]dump.Dumper{"etcd": etcd, "bbolt": bolt} {
		if d := cmp.Diff(items, dumped(t, s)); d != "" {
			t.Errorf("%s dumps other than it loaded (-loaded +dumped):\n%s", name, d)
		}
	}
	if _, err := dump.Check(ctx, etcd, bolt); err != nil {
		t.Errorf("Check of two stores loaded alike: %v", err)
	}

	var got []dump.Item
	err := etcd.Dump(ctx, func(it dump.Item) error {
		if len(got) == 1 {
			storetest.MustCreate(t, etcd, storetest.NewRun("late", "dev", "v1"))
		}
		got = append(got, it)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(items, got); d != "" {
		t.Errorf("a run created during the dump shows in it (-before +dumped):\n%s", d)
	}
}

// Load refuses a run whose trail would not keep its order.
func TestLoadRefusesATrailOutOfOrder(t *testing.T) {
	r := storetest.NewRun("web", "dev", "v1")
	r.ID = 7
	bad := dump.Run{Run: r, Events: []runbook.Event{{Seq: 1}, {Seq: 3}, {Seq: 2}}}
	err := openBolt(t).Load(context.Background(), seq([]dump.Item{bad}))
	if err == nil || !strings.Contains(err.Error(), "run #7: event seq 2 follows 3") {
		t.Errorf("Load = %v, want a refusal naming run #7's event seq 2", err)
	}
}

// Check names the first run that differs, and notices what the
// destination has on top.
func TestCheckNamesTheFirstDifference(t *testing.T) {
	ctx := context.Background()
	src := openBolt(t)
	sm := storetest.FillSample(t, src)
	dst := openBolt(t)
	copyAndCheck(t, src, dst, dst)

	r, err := dst.Run(ctx, sm.Active.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Note = "changed behind the copy"
	storetest.MustSave(t, dst, r)
	_, err = dump.Check(ctx, src, dst)
	if want := fmt.Sprintf(`run #%d differs: note is absent in the source, "changed behind the copy" in the destination`, r.ID); err == nil || err.Error() != want {
		t.Errorf("Check = %v\nwant %s", err, want)
	}

	dst = openBolt(t)
	n := copyAndCheck(t, src, dst, dst)
	storetest.MustCreate(t, dst, storetest.NewRun("extra", "dev", "v1"))
	_, err = dump.Check(ctx, src, dst)
	if want := fmt.Sprintf("runs: %d in the source, %d in the destination", n.Runs, n.Runs+1); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check with an extra run in the destination = %v", err)
	}
}
