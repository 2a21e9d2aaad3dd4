package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/config"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// bot export --incident prints the Markdown incident record of a rollback
// that went through the procedure, read from the store file; bot export
// keeps printing the JSON record.
func TestExportIncident(t *testing.T) {
	h := runbooktest.New(t, nil, func(c *runbook.Config) {
		runbooktest.WithEnv("production", func(e *runbook.Environment) { e.RollbackProcedure = true })(c.Policy)
	})
	for _, v := range []string{"v1", "v2"} {
		h.DeployTo(v, "staging")
		h.DeployTo(v, "production")
		h.Clock.Add(31 * time.Minute)
		h.Tick()
	}
	id := h.Must("ivan", "/rollback demo production")
	for _, key := range []string{runbook.ProcAssess, runbook.ProcDrain, runbook.ProcRestore} {
		if err := h.Act("ivan", id, runbook.ButtonTick, key); err != nil {
			t.Fatal(err)
		}
	}
	h.WantState(id, runbook.StateRolledBack)
	h.Stop()

	cfg := &config.Config{Store: h.Path}
	var md bytes.Buffer
	if err := exportIncident(cfg, "#5", &md, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Incident record: rollback #5 of demo in production", "**Rolled back:** v2 → v1",
		"3. [x] Stop incoming requests if possible — ivan", "7. [x] Document incident — Shipmate",
		"| #4 | bob | deploy demo v2 to production |", "| #5 | ivan | roll back demo in production from v2 to v1 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("incident record lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	var log bytes.Buffer
	if err := export(cfg, "5", &js, zerolog.New(&log)); err != nil || !strings.HasPrefix(js.String(), "{\n  \"run\": {") {
		t.Fatalf("bot export 5 = %v, %.40q", err, js.String())
	}
	// The export is one line of the audit trail, on the exporter's log.
	var a map[string]any
	if err := json.Unmarshal(log.Bytes(), &a); err != nil {
		t.Fatalf("export's log %q: %v", log.String(), err)
	}
	if a["audit"] != true || a["event"] != "export" || a["run"] != 5.0 || a["action"] != "rollback" || a["platform"] != "cli" ||
		a["reason"] != "read from "+h.Path {
		t.Errorf("export's audit line: %s", log.String())
	}
	if err := exportIncident(cfg, "4", &md, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "not a rollback") {
		t.Fatalf("incident record of a deployment: %v", err)
	}
}
