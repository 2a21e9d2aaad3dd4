package test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowClientsAreCut opens hundreds of connections that trickle a
// request body to the chat endpoint a byte at a time, as a slow-loris
// attack does: a signed command from a well-behaved client is still
// answered while they trickle, and the server cuts every one of them at
// its read deadline instead of holding them for ever.
func TestSlowClientsAreCut(t *testing.T) {
	_, _, b := startOnDiscord(t)

	const slow = 300
	var wg sync.WaitGroup
	cut := make(chan time.Duration, slow)
	opened := time.Now()
	for range slow {
		conn, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		head := "POST /discord/interactions HTTP/1.1\r\nHost: " + b.addr + "\r\nContent-Type: application/json\r\n" +
			"X-Signature-Ed25519: 00\r\nX-Signature-Timestamp: 1\r\nContent-Length: 100000\r\n\r\n"
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			// One byte a second: the body would take a day. The write
			// fails, or the read ends, once the server has cut it.
			for {
				if _, err := conn.Write([]byte("x")); err != nil {
					break
				}
				_ = conn.SetReadDeadline(time.Now().Add(time.Second))
				buf := make([]byte, 512)
				if _, err := conn.Read(buf); err != nil && !isTimeout(err) {
					break
				}
			}
			cut <- time.Since(opened)
		})
	}

	// While they trickle, a signed command is answered.
	if got := command(t, b, deployRun(dcDev, "v1.0", "dev")); !strings.Contains(got, "#1") {
		t.Fatalf("/deploy answered %q while slow clients trickled", got)
	}
	if n := len(cut); n > 0 {
		t.Fatalf("%d slow clients were already cut when the command was answered: the deadline is too short to tell", n)
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d of %d trickling connections still open after 2 minutes", slow-len(cut), slow)
	}
	close(cut)
	var last time.Duration
	for d := range cut {
		last = max(last, d)
	}
	t.Logf("%d trickling connections cut, the last after %s", slow, last.Round(time.Second))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
