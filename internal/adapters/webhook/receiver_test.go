package webhook

import (
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// delivery is one request a receiver took.
type delivery struct {
	id, sig, contentType string
	body                 []byte
}

// receiver is a webhook endpoint on a port of its own: answering each
// request with what answer says (default 200), or down, its listener
// closed, so that connections are refused.
type receiver struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
	// answer decides the status of the n-th request (from 1) for id;
	// nil: 200.
	answer   func(n int, id string) (status int, retryAfter string)
	requests int
	taken    []delivery // the requests answered 2xx, in order
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook/token-in-path" }

func (r *receiver) serve(ln net.Listener) {
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle)}
	go func() { _ = r.srv.Serve(ln) }()
}

// down closes the listener: connections are refused until up.
func (r *receiver) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		_ = r.srv.Close()
		r.srv = nil
	}
}

// up listens again on the same address.
func (r *receiver) up() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serve(ln)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(DeliveryHeader)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	status, after := http.StatusOK, ""
	if r.answer != nil {
		status, after = r.answer(r.requests, id)
	}
	if after != "" {
		w.Header().Set("Retry-After", after)
	}
	if status/100 == 2 {
		r.taken = append(r.taken, delivery{id: id, sig: req.Header.Get(SignatureHeader), contentType: req.Header.Get("Content-Type"), body: body})
	}
	w.WriteHeader(status)
}

func (r *receiver) setAnswer(f func(n int, id string) (int, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

func (r *receiver) stats() (requests int, taken []delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, slices.Clone(r.taken)
}

func (r *receiver) ids() []string {
	_, taken := r.stats()
	out := []string{}
	for _, d := range taken {
		out = append(out, d.id)
	}
	return out
}
