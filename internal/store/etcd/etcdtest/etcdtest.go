// Package etcdtest starts a real etcd for tests outside the etcd store's
// own package (moving a store between bbolt and etcd, the bot's migrate
// command): Debian's etcd-server, which `make test` installs, on loopback
// ports in a temporary folder.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	if _, err := os.Stat(Binary); err != nil {
		tb.Fatalf("%s not found (%v): `make test` installs it (Debian's etcd-server package)", Binary, err)
	}
	dir := tb.TempDir()
	cport, err1 := freePort()
	pport, err2 := freePort()
	if err1 != nil || err2 != nil {
		tb.Fatalf("no free port: %v %v", err1, err2)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	cmd := exec.Command(Binary,
		"--name", "default",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default="+peer,
		"--log-level", "error")
	logPath := filepath.Join(dir, "etcd.log")
	log, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", Binary, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := waitReady(client); err != nil {
		out, _ := os.ReadFile(logPath)
		tb.Fatalf("etcd: %v\n%s", err, out)
	}
	return client
}

// waitReady asks etcd at client for its status until it answers, at most
// startWithin.
func waitReady(client string) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second, Logger: zap.NewNop()})
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
			return fmt.Errorf("no answer within %s: %w", startWithin, err)
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
