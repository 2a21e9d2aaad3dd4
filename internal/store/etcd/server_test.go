package etcdstore

import (
	"context"
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

// server is one etcd for the package's tests, started on first use on
// loopback ports in a temporary folder and stopped by TestMain.
var server struct {
	once     sync.Once
	endpoint string
	cmd      *exec.Cmd
	dir      string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.cmd != nil {
		_ = server.cmd.Process.Kill()
		_ = server.cmd.Wait()
	}
	if server.dir != "" {
		_ = os.RemoveAll(server.dir)
	}
	os.Exit(code)
}

// etcdEndpoint returns the test etcd's client address, starting it once.
func etcdEndpoint(tb testing.TB) string {
	tb.Helper()
	server.once.Do(func() { server.endpoint, server.err = startEtcd() })
	if server.err != nil {
		tb.Fatalf("etcd for the store tests: %v", server.err)
	}
	return server.endpoint
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEtcd() (string, error) {
	if _, err := os.Stat(etcdBinary); err != nil {
		return "", fmt.Errorf("%s not found (%v): `make test` installs it (Debian's etcd-server package)", etcdBinary, err)
	}
	dir, err := os.MkdirTemp("", "shipmate-etcd-")
	if err != nil {
		return "", err
	}
	server.dir = dir
	cport, err1 := freePort()
	pport, err2 := freePort()
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("no free port: %v %v", err1, err2)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	cmd := exec.Command(etcdBinary,
		"--name", "default",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		"--log-level", "error")
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", etcdBinary, err)
	}
	server.cmd = cmd
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return "", err
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx, client)
		cancel()
		if err == nil {
			return client, nil
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			return "", fmt.Errorf("etcd did not answer within 20s: %v\n%s", err, out)
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
