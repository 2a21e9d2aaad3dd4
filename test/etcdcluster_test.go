package test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// etcdBinary is Debian's etcd-server, which `make test` installs.
const etcdBinary = "/usr/bin/etcd"

// etcdCluster is a real three-member etcd cluster on loopback ports, each
// member a process the test can kill and start again.
type etcdCluster struct {
	t       testing.TB
	dir     string
	members []*etcdMember
}

// etcdMember is one etcd process of the cluster.
type etcdMember struct {
	name, client, peer string
	cmd                *exec.Cmd
	done               chan struct{}
}

// newEtcdCluster starts three members and waits until the cluster is
// healthy; they are killed when the test ends.
func newEtcdCluster(t testing.TB) *etcdCluster {
	t.Helper()
	if _, err := os.Stat(etcdBinary); err != nil {
		t.Fatalf("%s not found (%v): `make test` installs it (Debian's etcd-server package)", etcdBinary, err)
	}
	c := &etcdCluster{t: t, dir: t.TempDir()}
	var initial []string
	for i := range 3 {
		m := &etcdMember{name: fmt.Sprintf("m%d", i),
			client: "http://" + freeAddr(t), peer: "http://" + freeAddr(t)}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	for _, m := range c.members {
		c.start(m, strings.Join(initial, ","), "new")
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			m.stop()
		}
		if t.Failed() {
			for _, m := range c.members {
				out, _ := os.ReadFile(filepath.Join(c.dir, m.name+".log"))
				t.Logf("etcd %s log:\n%s", m.name, tail(string(out), 40))
			}
		}
	})
	c.waitHealthy(0, 1, 2)
	return c
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start starts member m; state is "new" for a new cluster and "existing"
// for a member coming back.
func (c *etcdCluster) start(m *etcdMember, initial, state string) {
	c.t.Helper()
	log, err := os.OpenFile(filepath.Join(c.dir, m.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	m.cmd = exec.Command(etcdBinary,
		"--name", m.name, "--data-dir", filepath.Join(c.dir, m.name),
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", initial, "--initial-cluster-state", state,
		"--initial-cluster-token", "shipmate-test", "--log-level", "warn")
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		c.t.Fatalf("start etcd %s: %v", m.name, err)
	}
	m.done = make(chan struct{})
	go func() { _ = m.cmd.Wait(); _ = log.Close(); close(m.done) }()
}

// initial is the --initial-cluster value.
func (c *etcdCluster) initial() string {
	var s []string
	for _, m := range c.members {
		s = append(s, m.name+"="+m.peer)
	}
	return strings.Join(s, ",")
}

// stop kills member m, as a node lost would, and waits until it is gone.
func (m *etcdMember) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd = nil
}

// kill stops member i.
func (c *etcdCluster) kill(i int) { c.members[i].stop() }

// restart starts member i again on its data and waits until it is healthy.
func (c *etcdCluster) restart(i int) {
	c.start(c.members[i], c.initial(), "existing")
}

// url is the store URL of the cluster under prefix.
func (c *etcdCluster) url(prefix string) string {
	var hosts []string
	for _, m := range c.members {
		hosts = append(hosts, strings.TrimPrefix(m.client, "http://"))
	}
	return "etcd://" + strings.Join(hosts, ",") + "/" + prefix
}

// waitHealthy waits until each of the members says it is healthy (it has
// a leader and quorum).
func (c *etcdCluster) waitHealthy(members ...int) {
	c.t.Helper()
	for _, i := range members {
		m := c.members[i]
		eventually(c.t, 30*time.Second, "etcd "+m.name+" healthy", func() (bool, string) {
			resp, err := http.Get(m.client + "/health")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = fmt.Fprint(&b, resp.StatusCode)
			return resp.StatusCode == http.StatusOK, b.String()
		})
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
