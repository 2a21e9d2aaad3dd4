package slack

import (
	"context"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
)

// startSocket starts the flow's adapter in Socket Mode, with fast
// reconnects, and waits until it is connected.
func startSocket(t *testing.T, f *flow) *fakeSocket {
	t.Helper()
	sock := newFakeSocket(t, f.fake)
	f.adapter.opt.ReconnectMin, f.adapter.opt.ReconnectMax = 5*time.Millisecond, 40*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := f.adapter.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sock.waitDial()
	if !f.fake.WaitFor(func() bool { return f.adapter.Ready() == nil }, 5*time.Second) {
		t.Fatalf("Ready: %v once connected", f.adapter.Ready())
	}
	return sock
}

// Socket Mode comes back after every cut, however often slack-go gives
// up reconnecting (apps.connections.open refusing the token, after which
// RunContext returns): readiness says Slack is down meanwhile, and
// commands flow again on each new connection.
func TestSocketModeReconnectsForEver(t *testing.T) {
	f := newFlow(t, flowOptions{socket: true})
	sock := startSocket(t, f)
	for n := 1; n <= 3; n++ {
		sock.mu.Lock()
		sock.refuse, sock.refused = true, 0
		sock.mu.Unlock()
		sock.cut(n)
		if !f.fake.WaitFor(func() bool {
			err := f.adapter.Ready()
			return err != nil && strings.Contains(err.Error(), "reconnecting")
		}, 5*time.Second) {
			t.Fatalf("cut %d: Ready = %v, want Slack reported down", n, f.adapter.Ready())
		}
		// slack-go gave up more than once; the adapter went on trying.
		if !f.fake.WaitFor(func() bool { sock.mu.Lock(); defer sock.mu.Unlock(); return sock.refused >= 3 }, 5*time.Second) {
			t.Fatalf("cut %d: apps.connections.open was not tried again", n)
		}
		if f.adapter.Ready() == nil {
			t.Fatalf("cut %d: ready while every connection is refused", n)
		}
		sock.mu.Lock()
		sock.refuse = false
		sock.mu.Unlock()
		sock.waitDial()
		if !f.fake.WaitFor(func() bool { return f.adapter.Ready() == nil }, 5*time.Second) {
			t.Fatalf("cut %d: Ready = %v after reconnecting", n, f.adapter.Ready())
		}
		env := "r" + string(rune('0'+n))
		sock.send(n+1, f.slashEnvelope(env, "U0DEV", flowRelease, "/deploy", "status", f.triggerID()))
		if a := sock.ack(env); !strings.Contains(string(a["payload"]), "active runs") {
			t.Fatalf("cut %d: ack of a command on the new connection: %s", n, a["payload"])
		}
	}
}

// Events are handled side by side: a click whose engine call blocks does
// not hold up another user's command, which is acknowledged meanwhile.
func TestSocketModeSlowClickHoldsNoOneUp(t *testing.T) {
	f := newFlow(t, flowOptions{socket: true})
	e := flaky(f)
	sock := startSocket(t, f)
	sock.send(1, f.slashEnvelope("e1", "U0DEV", flowRelease, "/deploy", "demo v1.2.0 staging", f.triggerID()))
	a := sock.ack("e1")
	id := f.runOf(string(a["payload"]))
	f.settle()

	release := make(chan struct{})
	e.mu.Lock()
	e.hold["U0LEAD"] = release
	e.mu.Unlock()
	sock.send(1, f.interactiveEnvelope("e2", "U0LEAD", id, f.fake.ResponseURL(), ticks(id, f.checklistOf("staging")...)))
	select {
	case <-e.holding:
	case <-time.After(5 * time.Second):
		t.Fatal("the click did not reach the engine")
	}
	sock.send(1, f.slashEnvelope("e3", "U0RM", flowRelease, "/deploy", "status", f.triggerID()))
	if a := sock.ack("e3"); !strings.Contains(string(a["payload"]), "Active runs") {
		t.Fatalf("ack of a command while a click is stuck: %s", a["payload"])
	}
	close(release)
	sock.ack("e2")
	f.settle()
	f.wantState(id, runbook.StateAwaitingApproval)
}
