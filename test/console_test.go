package test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// getFrom sends a GET to addr with the given headers and returns the
// status and body.
func getFrom(t *testing.T, addr, path string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: read body: %v", addr, path, err)
	}
	return resp.StatusCode, string(data)
}

// loopback is addr (host:port) with its host made 127.0.0.1: how a client
// on this machine reaches a listener on every address.
func loopback(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// With chat.web.listen the main listener can be public for the chat
// services, probes and metrics while the console, on loopback, is served
// only there; bot export finds it.
func TestConsoleOnItsOwnListener(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.chat = "    listen: \"127.0.0.1:0\"\n"
	f.writeConfig()
	// A public main listener is no local console's business now.
	b := startBot(t, "bot", f.dir, f.config, "--tick", tick, "--listen", "0.0.0.0:0")
	if b.console == "" || b.console == b.addr {
		t.Fatalf("the bot logged listening on %q with the console on %q, want a listener of its own", b.addr, b.console)
	}
	main := loopback(t, b.addr)

	if code, body := getFrom(t, main, "/healthz", nil); code != http.StatusOK {
		t.Errorf("GET /healthz on the main listener = %d %q, want 200", code, body)
	}
	for _, path := range []string{"/", "/api/timeline", "/api/whoami", "/api/runs/1"} {
		if code, body := getFrom(t, main, path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s on the main listener = %d %.80q, want 404", path, code, body)
		}
	}
	if code, body := getFrom(t, b.console, "/", nil); code != http.StatusOK || !strings.Contains(body, "Shipmate") {
		t.Errorf("GET / on the console's listener = %d %.80q, want the console page", code, body)
	}
	_, port, _ := net.SplitHostPort(b.console)
	if code, body := getFrom(t, b.console, "/api/timeline", http.Header{"Host": {"evil.example:" + port}}); code != http.StatusMisdirectedRequest {
		t.Errorf("GET /api/timeline on the console with Host evil.example = %d %.80q, want 421", code, body)
	}

	id := b.request("bob", "/deploy demo v1 dev")
	b.waitState(id, "succeeded")

	res := runOnce(t, f.dir, 10*time.Second, "export", "--config", f.config, "1")
	var rec record
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rec) != nil || rec.Run == nil || rec.Run.ID != id || rec.Run.State != "succeeded" {
		t.Errorf("bot export 1 while the bot runs = exit %d\nstdout: %.200s\nstderr: %s\nwant run #%d succeeded", res.code, res.stdout, res.stderr, id)
	}
	// The read key next to the store is its owner's alone.
	if fi, err := os.Stat(f.store + ".addr"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file next to the store with the console's address and read key: %v, mode %v; want 0600", err, fi.Mode())
	}
}

// --listen moves the main listener; a local console that comes along must
// stay on loopback.
func TestListenFlagIsCheckedForTheConsole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := runOnce(t, f.dir, 10*time.Second, "--config", f.config, "--tick", tick, "--listen", "0.0.0.0:0")
	want := `shipmate: --listen: "0.0.0.0:0" is not a loopback address, and a local console (no chat.web.user_header) lets anyone who reaches it pick any user: ` +
		"set chat.web.user_header behind an authenticating proxy, or serve the console on 127.0.0.1\n"
	if res.code != 2 || res.stderr != want {
		t.Errorf("bot --listen 0.0.0.0:0 with a local console: exit %d, stderr %q; want 2 and %q", res.code, res.stderr, want)
	}
}

// Behind a proxy on 10.0.0.0/8, a request naming a user straight at the
// port is nobody: 401, logged, nothing done. bot export, on the bot's
// machine, still reads through the console's own listener.
func TestConsoleBehindProxyBelievesOnlyTheProxy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.chat = "    user_header: X-Forwarded-User\n    listen: \"127.0.0.1:0\"\n    trusted_proxies: [\"10.0.0.0/8\"]\n"
	f.writeConfig()
	st, err := store.Open(f.store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	r := &runbook.Run{Action: runbook.ActionDeploy, App: "demo", Env: "production", Version: "v7",
		Requester: runbook.User{Platform: "web", ID: "bob"}, State: runbook.StateAwaitingApproval, CreatedAt: at, UpdatedAt: at}
	if err := st.CreateRun(context.Background(), r, runbook.Event{At: at, Type: runbook.EvRequested, To: runbook.StateAwaitingApproval}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b := f.start()

	var rep reply
	if code := b.do(http.MethodPost, "/api/runs/1/action", map[string]string{"action": "approve"}, &rep); code != http.StatusForbidden {
		t.Errorf("approve without the header = %d %+v, want 403", code, rep)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+b.console+"/api/runs/1/action", strings.NewReader(`{"action":"approve"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-User", "rita")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "trusted proxy") {
		t.Errorf("rita's approval straight at the port = %d %s, want 401", resp.StatusCode, body)
	}
	if code, body := getFrom(t, b.console, "/api/runs/1", http.Header{"X-Forwarded-User": {"rita"}}); code != http.StatusUnauthorized {
		t.Errorf("GET /api/runs/1 as rita straight at the port = %d %.80q, want 401", code, body)
	}
	eventually(t, stateTimeout, "the refusal to be logged with its source", func() (bool, string) {
		log := b.log.String()
		return strings.Contains(log, "not a trusted proxy") && strings.Contains(log, `"source":"127.0.0.1:`), log
	})

	res := runOnce(t, f.dir, 10*time.Second, "export", "--config", f.config, "1")
	var rec record
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rec) != nil || rec.Run == nil {
		t.Fatalf("bot export 1 = exit %d\nstdout: %.200s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	if rec.Run.State != "awaiting_approval" || len(rec.Run.Approvals) != 0 {
		t.Errorf("run #1 is %s with %d approvals, want still awaiting approval with none", rec.Run.State, len(rec.Run.Approvals))
	}
}
