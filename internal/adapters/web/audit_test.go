package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"shipmate/internal/logtest"
)

// Reading a run's record through the API (bot export, or a user behind
// the proxy) is one audit line: who read which run, and how.
func TestExportIsAudited(t *testing.T) {
	var log logtest.Buffer
	c := startConsole(t, consoleOptions{userHeader: "X-Forwarded-User", readKey: "k3y", log: &log})
	hdr := jsonHeader()
	hdr.Set("X-Forwarded-User", "bob")
	if code, rep := c.post(t, "/api/command", hdr, map[string]string{"text": "/deploy demo v1 dev"}); code != http.StatusOK || rep.RunID != 1 {
		t.Fatalf("bob's deploy: %d %+v", code, rep)
	}
	for _, h := range []http.Header{{"Authorization": {"Bearer k3y"}}, {"X-Forwarded-User": {"alice"}}} {
		if resp, data := c.do(t, http.MethodGet, "/api/runs/1", h, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/runs/1: %d %s", resp.StatusCode, data)
		}
	}
	var exports []map[string]any
	for _, line := range strings.Split(log.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["audit"] == true && m["event"] == "export" {
			exports = append(exports, m)
		}
	}
	if len(exports) != 2 {
		t.Fatalf("export audit lines: %v\nlog:\n%s", exports, log.String())
	}
	if e := exports[0]; e["run"] != 1.0 || e["app"] != "demo" || e["env"] != "development" || e["person"] != nil ||
		!strings.Contains(e["reason"].(string), "read key") {
		t.Errorf("export by bot export: %v", e)
	}
	if e := exports[1]; e["run"] != 1.0 || e["person"] != "alice" || e["platform"] != "web" {
		t.Errorf("export by alice: %v", e)
	}
}
