package main

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// How the HTTP servers defend themselves against slow and hostile clients.
// Slack and Discord send small requests and want an answer within three
// seconds; a client that takes longer than this to send one is not them.
var (
	// headerTimeout bounds reading a request's headers, readTimeout the
	// whole request with its body.
	headerTimeout = 5 * time.Second
	readTimeout   = 15 * time.Second
	// writeTimeout bounds writing an answer; the console's live stream
	// lifts it for itself.
	writeTimeout = 30 * time.Second
	idleTimeout  = 2 * time.Minute
	// maxHeaderBytes bounds a request's headers.
	maxHeaderBytes = 64 << 10
	// maxConns bounds open connections per listener, so that a flood of
	// them cannot run the process out of file descriptors; more wait in
	// the kernel's queue until one closes.
	maxConns = 512
)

// newServer is an HTTP server with the bot's deadlines.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: headerTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// listenLimited listens on addr, holding at most maxConns connections open.
func listenLimited(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(ln, maxConns), nil
}
