package etcdstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBinary is Debian's etcd-server, which `make test` installs.
const etcdBinary = "/usr/bin/etcd"

// server is one etcd for the package's tests, started on first use and
// stopped by TestMain.
var server struct {
	once sync.Once
	proc *etcdProc
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.proc != nil {
		server.proc.stop()
	}
	os.Exit(code)
}

// etcdEndpoint returns the test etcd's client address, starting it once.
func etcdEndpoint(tb testing.TB) string {
	tb.Helper()
	server.once.Do(func() { server.proc, server.err = startEtcd(nil) })
	if server.err != nil {
		tb.Fatalf("etcd for the store tests: %v", server.err)
	}
	return server.proc.endpoint
}

// ownEtcd starts an etcd for one test (one it stops, or one with TLS),
// stopped when the test ends.
func ownEtcd(tb testing.TB, clientTLS *tls.Config, args ...string) *etcdProc {
	tb.Helper()
	p, err := startEtcd(clientTLS, args...)
	if err != nil {
		tb.Fatalf("etcd: %v", err)
	}
	tb.Cleanup(p.stop)
	return p
}

// etcdProc is an etcd process on loopback ports with its data in a
// temporary folder.
type etcdProc struct {
	endpoint string
	cmd      *exec.Cmd
	dir      string
	stopOnce sync.Once
}

// stop kills etcd and removes its data; it may be called again.
func (p *etcdProc) stop() {
	p.stopOnce.Do(func() {
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		_ = os.RemoveAll(p.dir)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd starts etcd with args added and waits until it answers. With
// clientTLS its client URL is https, and clientTLS is how to reach it.
func startEtcd(clientTLS *tls.Config, args ...string) (*etcdProc, error) {
	if _, err := os.Stat(etcdBinary); err != nil {
		return nil, fmt.Errorf("%s not found (%v): `make test` installs it (Debian's etcd-server package)", etcdBinary, err)
	}
	dir, err := os.MkdirTemp("", "shipmate-etcd-")
	if err != nil {
		return nil, err
	}
	p := &etcdProc{dir: dir}
	cport, err1 := freePort()
	pport, err2 := freePort()
	if err1 != nil || err2 != nil {
		p.stop()
		return nil, fmt.Errorf("no free port: %v %v", err1, err2)
	}
	scheme := "http"
	if clientTLS != nil {
		scheme = "https"
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	p.cmd = exec.Command(etcdBinary, append([]string{
		"--name", "default",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer,
		"--log-level", "error"}, args...)...)
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		p.stop()
		return nil, err
	}
	defer log.Close()
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		p.stop()
		return nil, fmt.Errorf("start %s: %w", etcdBinary, err)
	}
	p.endpoint = client
	if err := waitAnswers(client, clientTLS); err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
		p.stop()
		return nil, fmt.Errorf("%v\n%s", err, out)
	}
	return p, nil
}

// waitAnswers waits until etcd at endpoint answers a status request.
func waitAnswers(endpoint string, clientTLS *tls.Config) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, TLS: clientTLS, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx, endpoint)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd did not answer within 20s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
