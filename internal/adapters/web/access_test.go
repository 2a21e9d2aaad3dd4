package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"shipmate/internal/logtest"
	"shipmate/internal/runbook"
)

// port is the port the console listens on.
func (c *console) port(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(c.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// refusal sends a request that should be refused and returns the response
// with its body, which is read only when the status is not 200: a stream
// that was let through would never end.
func (c *console) refusal(t *testing.T, method, path string, hdr http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	return c.send(t, method, path, hdr, body, false)
}

// misdirected checks that a request got 421 with a JSON refusal.
func misdirected(t *testing.T, what string, resp *http.Response, data []byte) {
	t.Helper()
	var rep reply
	if resp.StatusCode != http.StatusMisdirectedRequest || json.Unmarshal(data, &rep) != nil || !rep.Error {
		t.Errorf("%s = %d %s, want 421 Misdirected Request", what, resp.StatusCode, data)
	}
}

// A page whose domain re-resolves to 127.0.0.1 (DNS rebinding) is, to the
// browser, the same origin as the console: its requests carry a Host and
// an Origin of the attacker's name. The local console does nothing for
// them.
func TestDNSRebindingIsRefused(t *testing.T) {
	c := newConsole(t, "")
	evil := "evil.example:" + c.port(t)
	rebound := func(hdr http.Header) http.Header {
		hdr.Set("Host", evil)
		hdr.Set("Origin", "http://"+evil)
		hdr.Set("Sec-Fetch-Site", "same-origin")
		return hdr
	}

	resp, data := c.do(t, http.MethodPost, "/api/command", rebound(jsonHeader()), `{"user":"rita","text":"/deploy demo v1 dev"}`)
	misdirected(t, "POST /api/command from the rebound page", resp, data)
	c.noRuns(t)

	// Nor does it show the page, its script or anything it would read.
	for _, path := range []string{"/", "/console.js", "/api/whoami", "/api/timeline", "/api/runs/1", "/api/stream"} {
		resp, data := c.refusal(t, http.MethodGet, path, http.Header{"Host": {evil}}, "")
		misdirected(t, "GET "+path+" with Host "+evil, resp, data)
	}

	// A run waiting for approval stays waiting when the rebound page
	// approves it as the tech lead.
	s := c.openStream(t)
	if rep := c.command(t, "bob", "/deploy demo v1 staging"); rep.Error || rep.RunID != 1 {
		t.Fatalf("bob's deploy: %+v", rep)
	}
	c.act(t, "bob", 1, "tick", "changelog")
	c.act(t, "rita", 1, "tick", "oncall")
	approvalCalled(t, s, "run-1", "@alice Run #1")
	resp, data = c.do(t, http.MethodPost, "/api/runs/1/action", rebound(jsonHeader()), `{"user":"alice","action":"approve"}`)
	misdirected(t, "approval from the rebound page", resp, data)
	rec, err := c.store.Record(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.State != runbook.StateAwaitingApproval || len(rec.Run.Approvals) != 0 || c.exec.Deploys() != 0 {
		t.Errorf("after the rebound approval run #1 is %s with %d approvals and %d deploys, want awaiting approval, none, none",
			rec.Run.State, len(rec.Run.Approvals), c.exec.Deploys())
	}
}

// An Origin that is not the console is refused even with a good Host: a
// cross-site form or fetch does not act.
func TestForeignOriginIsRefused(t *testing.T) {
	c := newConsole(t, "")
	port := c.port(t)
	for _, origin := range []string{"http://evil.example", "http://evil.example:" + port, "http://127.0.0.1:1", "file://", "null"} {
		hdr := jsonHeader()
		hdr.Set("Host", "127.0.0.1:"+port)
		hdr.Set("Origin", origin)
		resp, data := c.do(t, http.MethodPost, "/api/command", hdr, `{"user":"rita","text":"/deploy demo v1 dev"}`)
		misdirected(t, "POST /api/command from Origin "+origin, resp, data)
	}
	c.noRuns(t)
}

// The console answers to the names of its own listener: any 127.x.y.z
// literal, localhost and [::1], with its port.
func TestLoopbackNamesReachTheConsole(t *testing.T) {
	c := newConsole(t, "")
	port := c.port(t)
	for _, host := range []string{"127.0.0.1:" + port, "127.1.2.3:" + port, "localhost:" + port, "LocalHost:" + port} {
		resp, data := c.do(t, http.MethodGet, "/api/timeline", http.Header{"Host": {host}}, "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /api/timeline with Host %s = %d %s, want 200", host, resp.StatusCode, data)
		}
		hdr := jsonHeader()
		hdr.Set("Host", host)
		hdr.Set("Origin", "http://"+host)
		hdr.Set("Sec-Fetch-Site", "same-origin")
		code, rep := c.post(t, "/api/command", hdr, map[string]string{"user": "bob", "text": "/deploy help"})
		if code != http.StatusOK || rep.Error {
			t.Errorf("POST /api/command with Host %s = %d %+v, want help", host, code, rep)
		}
	}
	// Another port, no port (that is, 80) and other names are not it.
	for _, host := range []string{"127.0.0.1:1", "127.0.0.1", "localhost", "localhost.:" + port, "www.localhost:" + port,
		"10.0.0.1:" + port, "0.0.0.0:" + port, "2130706433:" + port, "127.0.0.1:" + port + ".evil.example"} {
		resp, data := c.do(t, http.MethodGet, "/api/timeline", http.Header{"Host": {host}}, "")
		misdirected(t, "GET /api/timeline with Host "+host, resp, data)
	}
}

// On IPv6 loopback the console answers to [::1] with its port.
func TestIPv6LoopbackReachesTheConsole(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("this machine cannot listen on [::1] (%v): TestHostNamesOfTheLocalAddress covers [::1] without a listener", err)
	}
	_ = ln.Close()
	c := startConsole(t, consoleOptions{listen: "[::1]:0"})
	host := "[::1]:" + c.port(t)
	hdr := jsonHeader()
	hdr.Set("Origin", "http://"+host)
	code, rep := c.post(t, "/api/command", hdr, map[string]string{"user": "bob", "text": "/deploy demo v1 dev"})
	if code != http.StatusOK || rep.Error || rep.RunID != 1 {
		t.Errorf("deploy on %s = %d %+v, want run #1", host, code, rep)
	}
	resp, data := c.do(t, http.MethodGet, "/api/timeline", http.Header{"Host": {"evil.example:" + c.port(t)}}, "")
	misdirected(t, "GET /api/timeline on [::1] with Host evil.example", resp, data)
}

// The Host is judged against the local address the request came in on,
// whatever it is: a Host without a port means port 80.
func TestHostNamesOfTheLocalAddress(t *testing.T) {
	c := newConsole(t, "")
	for _, tc := range []struct {
		local *net.TCPAddr
		host  string
		ok    bool
	}{
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8081}, "[::1]:8081", true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8081}, "[::1]:8080", false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8081}, "[::1]", false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "[::1]", true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "[::1]:80", true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "localhost", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "127.0.0.1", true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "evil.example", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "[fe80::1]", false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/timeline", nil)
		req.Host = tc.host
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tc.local))
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, req)
		if got := w.Code == http.StatusOK; got != tc.ok || (!tc.ok && w.Code != http.StatusMisdirectedRequest) {
			t.Errorf("Host %q on %s = %d %s, want ok %v (else 421)", tc.host, tc.local, w.Code, strings.TrimSpace(w.Body.String()), tc.ok)
		}
	}
	// A request that did not come through a listener names none.
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/timeline", nil))
	if w.Code != http.StatusMisdirectedRequest {
		t.Errorf("request without a local address = %d, want 421", w.Code)
	}
}

// Behind a proxy the user header is the user, so it is believed only from
// the proxy: sent straight to the port from anywhere else it gets 401, is
// logged with where it came from, and does nothing.
func TestUserHeaderOnlyFromTrustedProxies(t *testing.T) {
	log := &logtest.Buffer{}
	c := startConsole(t, consoleOptions{userHeader: "X-Forwarded-User",
		trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, log: log})
	hdr := jsonHeader()
	hdr.Set("X-Forwarded-User", "rita")
	code, rep := c.post(t, "/api/command", hdr, map[string]string{"text": "/deploy demo v1 dev"})
	if code != http.StatusUnauthorized || !rep.Error || !strings.Contains(rep.Text, "trusted proxy") {
		t.Errorf("deploy with the header from 127.0.0.1 = %d %+v, want 401 naming the trusted proxies", code, rep)
	}
	c.noRuns(t)
	for _, path := range []string{"/api/whoami", "/api/timeline", "/api/runs/1", "/api/stream"} {
		resp, data := c.refusal(t, http.MethodGet, path, http.Header{"X-Forwarded-User": {"rita"}}, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with the header from 127.0.0.1 = %d %s, want 401", path, resp.StatusCode, data)
		}
	}

	var warned []string
	for line := range strings.Lines(log.String()) {
		if strings.Contains(line, "not a trusted proxy") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 5 || !strings.Contains(warned[0], `"level":"warn"`) || !strings.Contains(warned[0], `"source":"127.0.0.1:`) ||
		!strings.Contains(warned[0], `"path":"/api/command"`) {
		t.Errorf("log of the refusals = %q, want 5 warnings naming the source address and the path", warned)
	}
	for _, line := range warned {
		if strings.Contains(line, "rita") {
			t.Errorf("a refusal logged what the header said: %s", line)
		}
	}

	// With the source among the trusted proxies the same request works.
	c = startConsole(t, consoleOptions{userHeader: "X-Forwarded-User",
		trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}})
	code, rep = c.post(t, "/api/command", hdr, map[string]string{"text": "/deploy demo v1 dev"})
	if code != http.StatusOK || rep.Error || rep.RunID != 1 {
		t.Errorf("deploy with the header from a trusted proxy = %d %+v, want run #1", code, rep)
	}
}

// bot export reads through a console behind a proxy with the key the bot
// left next to the store, without a user header; nothing else does.
func TestReadKeyReadsWithoutAUser(t *testing.T) {
	c := startConsole(t, consoleOptions{userHeader: "X-Forwarded-User", readKey: "k3y"})
	hdr := jsonHeader()
	hdr.Set("X-Forwarded-User", "bob")
	if code, rep := c.post(t, "/api/command", hdr, map[string]string{"text": "/deploy demo v1 dev"}); code != http.StatusOK || rep.RunID != 1 {
		t.Fatalf("bob's deploy: %d %+v", code, rep)
	}
	var rec runbook.Record
	resp, data := c.do(t, http.MethodGet, "/api/runs/1", http.Header{"Authorization": {"Bearer k3y"}}, "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &rec) != nil || rec.Run.ID != 1 {
		t.Errorf("GET /api/runs/1 with the read key = %d %s, want run #1", resp.StatusCode, data)
	}
	for _, auth := range []string{"Bearer k3", "Bearer k3yy", "k3y", "Basic k3y", ""} {
		resp, data := c.do(t, http.MethodGet, "/api/runs/1", http.Header{"Authorization": {auth}}, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /api/runs/1 with Authorization %q = %d %s, want 401", auth, resp.StatusCode, data)
		}
	}
	// It reads; it does not act.
	hdr = jsonHeader()
	hdr.Set("Authorization", "Bearer k3y")
	if code, rep := c.post(t, "/api/command", hdr, map[string]string{"user": "bob", "text": "/deploy demo v2 dev"}); code != http.StatusForbidden || !rep.Error {
		t.Errorf("deploy with the read key = %d %+v, want 403", code, rep)
	}
}

// Behind a proxy everyone in the company may be signed in; only those who
// hold a role in Shipmate see its runs, trails and output.
func TestReadsNeedARole(t *testing.T) {
	c := newConsole(t, "X-Forwarded-User")
	hdr := jsonHeader()
	hdr.Set("X-Forwarded-User", "bob")
	if code, rep := c.post(t, "/api/command", hdr, map[string]string{"text": "/deploy demo v1 dev"}); code != http.StatusOK || rep.RunID != 1 {
		t.Fatalf("bob's deploy: %d %+v", code, rep)
	}
	for _, path := range []string{"/api/timeline", "/api/runs", "/api/runs/1", "/api/stream"} {
		resp, data := c.refusal(t, http.MethodGet, path, http.Header{"X-Forwarded-User": {"carol"}}, "")
		var rep reply
		if resp.StatusCode != http.StatusForbidden || json.Unmarshal(data, &rep) != nil || !strings.HasPrefix(rep.Text, "you have no role in Shipmate") {
			t.Errorf("GET %s as carol, who has no role = %d %s, want 403 saying so", path, resp.StatusCode, data)
		}
		resp, data = c.refusal(t, http.MethodGet, path, http.Header{"X-Forwarded-User": {"bob"}}, "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s as bob, a deployer = %d %s, want 200", path, resp.StatusCode, data)
		}
	}
}
