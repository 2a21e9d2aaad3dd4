package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// hookReceiver is a webhook endpoint that answers 503 while down and
// keeps every request it answered 200, raw: nothing is deduplicated.
type hookReceiver struct {
	secret string
	mu     sync.Mutex
	up     bool
	tries  int // requests answered 503
	got    []hookDelivery
	bad    []string // what was wrong with a request
}

type hookDelivery struct {
	ID, Type, Subject string
	Data              struct {
		Event string `json:"event"`
		Run   uint64 `json:"run"`
		Seq   uint64 `json:"seq"`
	}
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.up {
		h.tries++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write(body)
	if sig := r.Header.Get("X-Shipmate-Signature"); !hmac.Equal([]byte(sig), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
		h.bad = append(h.bad, "bad signature "+sig)
	}
	var d hookDelivery
	if err := json.Unmarshal(body, &d); err != nil {
		h.bad = append(h.bad, fmt.Sprintf("not JSON (%v): %s", err, body))
	}
	if r.Header.Get("X-Shipmate-Delivery") != d.ID {
		h.bad = append(h.bad, "X-Shipmate-Delivery is not the event's id "+d.ID)
	}
	h.got = append(h.got, d)
	w.WriteHeader(http.StatusOK)
}

// serve starts serving h until the test ends, and returns the notify:
// block that sends a bot's events to it at path.
func (h *hookReceiver) serve(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("notify:\n  - {url: %q, secret: %q}\n", "http://"+ln.Addr().String()+path, h.secret)
}

func (h *hookReceiver) state() (up bool, tries int, got []hookDelivery, bad []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.tries, slices.Clone(h.got), slices.Clone(h.bad)
}

func (h *hookReceiver) setUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up = true
}

// TestWebhookReceiverDownAcrossKill9 runs a deploy while the webhook's
// receiver is down, kills the bot with kill -9, restarts it, and brings
// the receiver up: it gets every event of the run, and the lock and
// unlock that follow, each exactly once and in order.
func TestWebhookReceiverDownAcrossKill9(t *testing.T) {
	t.Parallel()
	rcv := &hookReceiver{secret: "e2e-secret"}
	f := newFixture(t)
	f.top = rcv.serve(t, "/hooks/shipmate")
	f.writeConfig()
	b := f.start()
	id := b.request("bob", "/deploy demo v1 dev")
	rec := b.waitState(id, "succeeded")
	eventually(t, stateTimeout, "the bot to try the receiver", func() (bool, string) {
		_, tries, _, _ := rcv.state()
		return tries > 0, fmt.Sprintf("%d tries", tries)
	})
	b.kill()

	b = f.start()
	eventually(t, stateTimeout, "the restarted bot to try the receiver again", func() (bool, string) {
		_, tries, _, _ := rcv.state()
		return tries > 1, fmt.Sprintf("%d tries", tries)
	})
	rcv.setUp()
	b.command("alice", "/deploy lock demo dev maintenance")
	b.command("alice", "/deploy unlock demo dev")

	seen := func(got []hookDelivery, run bool) []string {
		out := []string{}
		for _, d := range got {
			switch {
			case run && d.Data.Run != 0:
				out = append(out, d.ID+" "+d.Data.Event)
			case !run && d.Data.Run == 0:
				out = append(out, d.Data.Event)
			}
		}
		return out
	}
	eventually(t, stateTimeout, "the unlock delivered", func() (bool, string) {
		_, _, got, _ := rcv.state()
		locks := seen(got, false)
		return len(locks) > 0 && locks[len(locks)-1] == "unlock", strings.Join(locks, ", ")
	})
	// A drained bot has nothing in flight: whatever was to come, came.
	if code, _ := b.terminate(); code != 0 {
		t.Errorf("after SIGTERM the bot exited with %d", code)
	}
	// The run's whole trail, as it ended (the requester's notice may land
	// after the run succeeded).
	res := runOnce(t, f.dir, stateTimeout, "export", "--config", f.config, fmt.Sprint(id))
	var final record
	if err := json.Unmarshal([]byte(res.stdout), &final); err != nil || res.code != 0 {
		t.Fatalf("bot export %d: exit %d, %v\n%s", id, res.code, err, res.stderr)
	}
	var want []string
	for _, e := range final.Events {
		if e.Type != "output" {
			want = append(want, fmt.Sprintf("%d-%d %s", id, e.Seq, e.Type))
		}
	}
	if len(want) < len(rec.Events)/2 {
		t.Fatalf("the exported trail has %d events, the one read at success %d", len(want), len(rec.Events))
	}
	_, _, got, bad := rcv.state()
	if g := seen(got, true); !slices.Equal(g, want) {
		t.Errorf("run events delivered, raw:\n  %s\nwant each once, in order:\n  %s", strings.Join(g, "\n  "), strings.Join(want, "\n  "))
	}
	if g := seen(got, false); !slices.Equal(g, []string{"lock", "unlock"}) {
		t.Errorf("lock events delivered, raw: %v; want lock, unlock once each", g)
	}
	for _, d := range got {
		if d.Data.Run != 0 && (d.Type != "dev.shipmate.run."+d.Data.Event || d.Subject != fmt.Sprintf("run/%d", id)) {
			t.Errorf("event %s: type %q, subject %q", d.ID, d.Type, d.Subject)
		}
	}
	if len(bad) > 0 {
		t.Errorf("bad requests:\n%s", strings.Join(bad, "\n"))
	}
}
