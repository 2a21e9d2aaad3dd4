package runbook_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/logtest"
	rb "shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// auditLines decodes the audit lines of a JSON log.
func auditLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["audit"] == true {
			if m["message"] != "audit" || m["level"] != "info" {
				t.Errorf("audit line %q: want message audit at info", line)
			}
			out = append(out, m)
		}
	}
	return out
}

// findAudit returns the first audit line whose fields hold every value of
// want, or fails.
func findAudit(t *testing.T, lines []map[string]any, want map[string]any) map[string]any {
	t.Helper()
next:
	for _, l := range lines {
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		return l
	}
	t.Errorf("no audit line with %v", want)
	return nil
}

// A production run, from request to success, and a refusal, a lock, an
// unlock and an incident freeze on the side: every event is one audit line
// with its fields, step output is none, and a secret is never one.
func TestAuditLog(t *testing.T) {
	var buf logtest.Buffer
	h := newHarnessWith(t, newExec(runbooktest.Verify), func(c *rb.Config) {
		c.Log = zerolog.New(&buf)
		c.Secrets = []string{"hunter2hunter2"}
	})
	h.DeployTo("v0", "staging")
	h.DeployTo("v0", "production")
	h.Clock.Add(31 * time.Minute)
	h.Tick()
	h.DeployTo("v1", "staging")
	before := len(buf.String())
	ctx := context.Background()
	web := rb.Origin{Platform: "web", Channel: "general"}

	id := h.Must("bob", "/deploy demo v1 production --reason \"release 1\"")
	h.TickAll("bob", id)
	if err := h.Act("bob", id, rb.ButtonApprove, ""); rb.ErrorCode(err) != rb.EForbidden {
		t.Fatalf("self-approval: %v", err)
	}
	if err := h.Act("rita", id, rb.ButtonApprove, ""); err != nil {
		t.Fatal(err)
	}
	h.WantState(id, rb.StateMonitoring)
	h.Clock.Add(31 * time.Minute)
	h.Tick()
	r := h.WantState(id, rb.StateSucceeded)

	if _, _, err := h.Engine.Command(ctx, runbooktest.User("rita"), web, "/deploy", "lock demo staging hold hunter2hunter2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Engine.Command(ctx, runbooktest.User("bob"), web, "/deploy", "demo v2 staging"); rb.ErrorCode(err) != rb.EConflict {
		t.Fatalf("deploy while locked: %v", err)
	}
	if _, _, err := h.Engine.Command(ctx, runbooktest.User("rita"), web, "/deploy", "unlock demo staging"); err != nil {
		t.Fatal(err)
	}
	rollback := h.Must("ivan", "/rollback demo production --incident")
	h.WantState(rollback, rb.StateRolledBack)

	lines := auditLines(t, buf.String()[before:])
	run := float64(id)
	base := map[string]any{"run": run, "app": "demo", "env": "production", "action": "deploy", "version": "v1"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	findAudit(t, lines, with("event", "requested", "person", "bob", "platform", "web", "to", "requested",
		"reason", "deploy demo v1 to production: release 1"))
	findAudit(t, lines, with("event", "transition", "from", "requested", "to", "checklist"))
	findAudit(t, lines, with("event", "checklist_tick", "person", "bob", "reason", `ticked "Code merged to release branch"`))
	findAudit(t, lines, with("event", "refused", "person", "bob", "code", "forbidden"))
	findAudit(t, lines, with("event", "approval", "person", "rita", "artifact", r.Artifact))
	findAudit(t, lines, with("event", "transition", "from", "awaiting_approval", "to", "approved", "person", "rita"))
	findAudit(t, lines, with("event", "transition", "from", "approved", "to", "deploying"))
	findAudit(t, lines, with("event", "step", "reason", "deploy succeeded"))
	findAudit(t, lines, with("event", "transition", "from", "deploying", "to", "verifying"))
	findAudit(t, lines, with("event", "transition", "from", "verifying", "to", "monitoring"))
	findAudit(t, lines, with("event", "transition", "from", "monitoring", "to", "succeeded"))
	findAudit(t, lines, map[string]any{"event": "lock", "app": "demo", "env": "staging", "person": "rita", "reason": "hold ***"})
	findAudit(t, lines, map[string]any{"event": "refused", "app": "demo", "env": "staging", "version": "v2", "action": "deploy",
		"person": "bob", "code": "conflict"})
	findAudit(t, lines, map[string]any{"event": "unlock", "app": "demo", "env": "staging", "person": "rita"})
	findAudit(t, lines, map[string]any{"event": "requested", "run": float64(rollback), "action": "rollback", "person": "ivan"})
	findAudit(t, lines, map[string]any{"event": "incident_freeze", "run": float64(rollback), "app": "demo", "env": "production"})
	findAudit(t, lines, map[string]any{"event": "transition", "run": float64(rollback), "to": "rolled_back"})
	// Each run's events carry their place on its trail, as export shows
	// them: each line its own seq (step output, not audited, in the gaps;
	// lines of one run may be written in another order than their seqs
	// when two goroutines store its events side by side).
	seen := map[[2]float64]bool{}
	for _, l := range lines {
		run, ok := l["run"].(float64)
		if !ok || l["event"] == rb.AuditRefused || l["event"] == rb.AuditExport {
			continue
		}
		seq, _ := l["seq"].(float64)
		if seq == 0 || seen[[2]float64{run, seq}] {
			t.Errorf("run #%v: seq %v missing or seen before: %v", run, seq, l)
		}
		seen[[2]float64{run, seq}] = true
		if evs := h.Events(uint64(run)); seq > 0 && (int(seq) > len(evs) || evs[int(seq)-1].Type != l["event"]) {
			t.Errorf("run #%v: the line of seq %v says %v, which is not the trail's event %v", run, seq, l["event"], seq)
		}
	}
	for _, l := range lines {
		if l["event"] == rb.EvOutput {
			t.Errorf("step output in the audit log: %v", l)
		}
		if l["at"] == nil || l["event"] == nil {
			t.Errorf("audit line without at or event: %v", l)
		}
	}
	if strings.Contains(buf.String(), "hunter2hunter2") {
		t.Error("a secret reached the log")
	}
}
