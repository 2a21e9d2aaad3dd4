package etcdstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"shipmate/internal/store/etcd/etcdtest"
)

// server is one etcd for the package's tests, started on first use and
// stopped by TestMain.
var server struct {
	once sync.Once
	proc *etcdtest.Proc
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.proc != nil {
		server.proc.Stop()
	}
	os.Exit(code)
}

// etcdEndpoint returns the test etcd's client address, starting it once.
func etcdEndpoint(tb testing.TB) string {
	tb.Helper()
	server.once.Do(func() { server.proc, server.err = etcdtest.Launch(nil) })
	if server.err != nil {
		tb.Fatalf("etcd for the store tests: %v", server.err)
	}
	return server.proc.Endpoint
}

// ownEtcd starts an etcd for one test (one it stops, or one with TLS),
// stopped when the test ends.
func ownEtcd(tb testing.TB, clientTLS *tls.Config, args ...string) *etcdtest.Proc {
	tb.Helper()
	p, err := etcdtest.Launch(clientTLS, args...)
	if err != nil {
		tb.Fatalf("etcd: %v", err)
	}
	tb.Cleanup(p.Stop)
	return p
}

var prefixes atomic.Int64

// openTest opens a store under a prefix of its own on the test etcd, so
// that every test starts empty, and closes it when the test ends.
func openTest(tb testing.TB) *Store {
	tb.Helper()
	ep := etcdEndpoint(tb)
	s, err := Open(context.Background(), Config{
		Endpoints: []string{ep},
		Prefix:    fmt.Sprintf("/shipmate-test/%d-%d", os.Getpid(), prefixes.Add(1)),
	})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
