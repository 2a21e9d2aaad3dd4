// Package etcdtest starts a real etcd for tests: Debian's etcd-server,
// which `make test` installs, on loopback ports in a temporary folder. The
// etcd store's own tests use it (with TLS, or one they stop), and so do
// the tests that move a store between bbolt and etcd.
package etcdtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Binary is where Debian's etcd-server puts etcd.
const Binary = "/usr/bin/etcd"

// startWithin bounds how long a starting etcd may take to answer.
const startWithin = 20 * time.Second

// Start starts an etcd of tb's own, stopped when tb ends, and returns its
// client address (http://127.0.0.1:PORT).
func Start(tb testing.TB) string {
	tb.Helper()
	p, err := Launch(nil)
	if err != nil {
		tb.Fatalf("etcd: %v", err)
	}
	tb.Cleanup(p.Stop)
	return p.Endpoint
}

// Proc is an etcd process with its data in a temporary folder.
type Proc struct {
	// Endpoint is its client address.
	Endpoint string
	cmd      *exec.Cmd
	dir      string
	stopOnce sync.Once
}

// Stop kills etcd and removes its data; it may be called again.
func (p *Proc) Stop() {
	p.stopOnce.Do(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		_ = os.RemoveAll(p.dir)
	})
}

// Launch starts etcd with args added and waits until it answers; the
// caller stops it. With clientTLS its client URL is https, and clientTLS
// is how to reach it.
func Launch(clientTLS *tls.Config, args ...string) (*Proc, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("%s not found (%v): `make test` installs it (Debian's etcd-server package)", Binary, err)
	}
	dir, err := os.MkdirTemp("", "shipmate-etcd-")
	if err != nil {
		return nil, err
	}
	p := &Proc{dir: dir}
	cport, err1 := freePort()
	pport, err2 := freePort()
	if err1 != nil || err2 != nil {
		p.Stop()
		return nil, fmt.Errorf("no free port: %v %v", err1, err2)
	}
	scheme := "http"
	if clientTLS != nil {
		scheme = "https"
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	p.cmd = exec.Command(Binary, append([]string{
		"--name", "default",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer,
		"--log-level", "error"}, args...)...)
	logPath := filepath.Join(dir, "etcd.log")
	log, err := os.Create(logPath)
	if err != nil {
		p.Stop()
		return nil, err
	}
	defer log.Close()
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		p.Stop()
		return nil, fmt.Errorf("start %s: %w", Binary, err)
	}
	p.Endpoint = client
	if err := waitReady(client, clientTLS); err != nil {
		out, _ := os.ReadFile(logPath)
		p.Stop()
		return nil, fmt.Errorf("%v\n%s", err, out)
	}
	return p, nil
}

// waitReady asks etcd at client for its status until it answers, at most
// startWithin.
func waitReady(client string, clientTLS *tls.Config) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second, TLS: clientTLS, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(startWithin)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx, client)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd did not answer within %s: %w", startWithin, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
