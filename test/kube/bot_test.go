package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The built bot against the test cluster, driven through its web console
// API as a user would.

var (
	buildOnce sync.Once
	botPath   string
	buildErr  error
)

// builtBot builds ./cmd/bot of the enclosing module once per test binary.
func builtBot(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shipmate-kube-bot-")
		if err != nil {
			buildErr = err
			return
		}
		botPath = filepath.Join(dir, "bot")
		cmd := exec.Command("go", "build", "-o", botPath, "./cmd/bot")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/bot: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return botPath
}

// runningBot is a bot process on a configuration of the test's.
type runningBot struct {
	cmd  *exec.Cmd
	addr string
	log  *bytes.Buffer
	mu   *sync.Mutex
}

func startBot(t testing.TB, config string) *runningBot {
	t.Helper()
	cmd := exec.Command(builtBot(t), "--config", config, "--tick", "200ms")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &runningBot{cmd: cmd, log: &bytes.Buffer{}, mu: &sync.Mutex{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.log.WriteString(line + "\n")
			b.mu.Unlock()
			var entry struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Message == "listening" {
				addr <- entry.Addr
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("bot log:\n%s", b.log.String())
			b.mu.Unlock()
		}
	})
	select {
	case b.addr = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("the bot did not start listening")
	}
	return b
}

func (b *runningBot) post(t testing.TB, path string, body any) map[string]any {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post("http://"+b.addr+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// command sends a console command as user and fails on a refusal.
func (b *runningBot) command(t testing.TB, user, text string) (uint64, string) {
	t.Helper()
	rep := b.post(t, "/api/command", map[string]string{"user": user, "text": text})
	if rep["error"] == true {
		t.Fatalf("%s: %q refused: %v", user, text, rep["text"])
	}
	id, _ := rep["run_id"].(float64)
	txt, _ := rep["text"].(string)
	return uint64(id), txt
}

func (b *runningBot) state(t testing.TB, id uint64) (string, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/api/runs/%d", b.addr, id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec struct {
		Run struct{ State, Note string }
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("run %d: %v: %s", id, err, data)
	}
	return rec.Run.State, rec.Run.Note
}

func (b *runningBot) waitState(t testing.TB, id uint64, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, note := b.state(t, id)
		if st == want {
			return
		}
		if time.Now().After(deadline) || (st != "requested" && st != "approved" && st != "deploying" && st != "verifying" && st != "monitoring" && st != "rolling_back") {
			t.Fatalf("run #%d is %s (%s), want %s", id, st, note, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// botConfig configures apps on the cluster of kubeconfig, their images
// (shop/APP:{version}) on the registry at registryHost.
func botConfig(t testing.TB, kubeconfig, registryHost string, apps map[string][]string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: \"127.0.0.1:0\"\nstore: %q\n", filepath.Join(t.TempDir(), "shipmate.db"))
	b.WriteString(`roles:
  deployer: {web: [rita]}
environments:
  production:
    deployers: [deployer]
    approval: none
    rollback: [deployer]
apps:
`)
	for name, workloads := range apps {
		fmt.Fprintf(&b, `  %s:
    executor: kubernetes
    kubernetes:
      kubeconfig: %q
      namespace: shop
      workloads: [%s]
      container: app
      image: "%s/shop/%s:{version}"
      progress_deadline: 2m
`, name, kubeconfig, strings.Join(workloads, ", "), registryHost, name)
	}
	b.WriteString("chat:\n  web: {enabled: true}\n")
	path := filepath.Join(t.TempDir(), "shipmate.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuiltBotDeploysRollsBackAndReportsDrift(t *testing.T) {
	c, _, im := setup(t)
	im.push(t, "v3-oom")
	c.Kubelet.Behave(im.digests["v3-oom"], OOMKilled)
	b := startBot(t, botConfig(t, c.Kubeconfig, im.reg.Host, map[string][]string{
		"checkout": {"deployment/checkout-api", "deployment/checkout-worker"},
	}))
	id, _ := b.command(t, "rita", "/deploy checkout v1 production")
	b.waitState(t, id, "succeeded", time.Minute)
	id, _ = b.command(t, "rita", "/deploy checkout v2 production")
	b.waitState(t, id, "succeeded", time.Minute)
	if got := containerImages(t, c, "checkout-api")["app"]; got != im.pinned("v2") {
		t.Fatalf("checkout-api runs %s, want %s", got, im.pinned("v2"))
	}

	// A release that runs out of memory rolls back by itself.
	id, _ = b.command(t, "rita", "/deploy checkout v3-oom production")
	b.waitState(t, id, "rolled_back", time.Minute)
	if got := containerImages(t, c, "checkout-worker")["app"]; got != im.pinned("v2") {
		t.Fatalf("after the failed v3 checkout-worker runs %s, want %s", got, im.pinned("v2"))
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/api/runs/%d", b.addr, id))
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"OOMKilled", "Runbook — Performance degradation"} {
		if !strings.Contains(string(rec), want) {
			t.Errorf("the run's record lacks %q", want)
		}
	}

	debug := im.reg.Host + "/shop/checkout:debug"
	setImage(t, c.Client, ns, "checkout-worker", debug)
	deadline := time.Now().Add(10 * time.Second)
	var text string
	for time.Now().Before(deadline) {
		_, text = b.command(t, "rita", "/deploy whereis checkout")
		if strings.Contains(text, "drift") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(text, "⚠ drift: production runs checkout-api="+im.pinned("v2")+", checkout-worker="+debug) {
		t.Errorf("whereis:\n%s", text)
	}
}
