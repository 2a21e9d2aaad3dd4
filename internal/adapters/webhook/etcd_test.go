package webhook

import (
	"context"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"shipmate/internal/runbook"
	etcdstore "shipmate/internal/store/etcd"
	"shipmate/internal/store/etcd/etcdtest"
)

// On etcd, replicas take turns delivering: one that stops (a leader
// deposed) leaves its cursor in the store, and the next, on another
// connection, goes on from it: every event once, in order, whichever
// replica wrote it.
func TestNextDelivererGoesOnFromTheCursor(t *testing.T) {
	ep := etcdtest.Start(t)
	open := func() *etcdstore.Store {
		s, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: []string{ep}, Prefix: "/handover", Outbox: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open(), open()
	rcv := newReceiver(t)
	hook := Endpoint{URL: rcv.url(), Secret: "s"}
	ctx := context.Background()
	write := func(s *etcdstore.Store, app string) {
		r := &runbook.Run{Action: runbook.ActionDeploy, App: app, Env: "prod", Version: "v1", Requester: alice,
			State: runbook.StateRequested, CreatedAt: t0, UpdatedAt: t0}
		if err := s.CreateRun(ctx, r, runbook.Event{At: t0, Type: runbook.EvRequested, Actor: &alice}); err != nil {
			t.Fatal(err)
		}
		r.State = runbook.StateChecklist
		if err := s.SaveRun(ctx, r, runbook.Event{At: t0, Type: runbook.EvTransition, From: runbook.StateRequested, To: runbook.StateChecklist}); err != nil {
			t.Fatal(err)
		}
	}

	_, stop := run(t, a, nil, zerolog.Nop(), hook)
	write(a, "web")
	write(b, "api")
	eventually(t, "the first replica's deliveries", func() bool { return len(rcv.ids()) == 4 })
	stop()
	write(b, "db")
	write(a, "cache")
	// Read before the next deliverer prunes what was delivered.
	all, err := b.OutboxAfter(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range all {
		want = append(want, e.ID)
	}
	run(t, b, nil, zerolog.Nop(), hook)
	eventually(t, "the second replica's deliveries", func() bool { return len(rcv.ids()) >= len(want) })
	if got := rcv.ids(); len(want) != 8 || !slices.Equal(got, want) {
		t.Errorf("delivered %v\nwant      %v (8, each once, in order)", got, want)
	}
}
