package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestQuickStartReachesProduction walks the README's quick start in a real
// browser, on the default configuration as `go run ./cmd/bot` uses it:
// development at once, staging through its checklist and the tech lead,
// then production — refused to bob outside its window, or through it when
// it is open — and taken there by dan, who holds break-glass, with
// --emergency, approved by the release manager, validated and ended.
func TestQuickStartReachesProduction(t *testing.T) {
	// What `go run ./cmd/bot` reads in the repository.
	_, c := openConsole(t, "configs/shipmate.yaml")
	c.as("bob")
	c.say("/deploy demo v1.0.0 dev")
	c.waitFor("development run", runSel(1, `[data-state="succeeded"]`))

	c.say("/deploy demo v1.0.0 staging")
	c.as("alice")
	c.tickAll(2, "merged", "tests", "artifact", "plan")
	c.waitFor("staging awaiting approval", runSel(2, `[data-state="awaiting_approval"]`))
	c.click("alice approves staging", runSel(2, ` button[data-action="approve"]`))
	c.waitFor("staging run", runSel(2, `[data-state="succeeded"]`))

	// bob alone may try: outside the window the refusal says what to do.
	c.as("bob")
	c.say("/deploy demo v1.0.0 production --dry-run")
	c.privateSaysOneOf("Dry run: demo v1.0.0 → production would be accepted", "production is closed for deployments now")
	closed := strings.Contains(c.text("read bob's answer", "#private"), "closed")
	id := 3
	if closed {
		c.privateSays(`In an emergency: --emergency --reason "why" (break-glass role)`)
		c.say(`/deploy demo v1.0.0 production --emergency --reason "quick start"`)
		c.privateSays("needs the break-glass role (roles.break-glass in Shipmate's configuration)")
	} else {
		// The window is open: bob's request goes through as it is; the
		// walk-through goes on with dan's, as it would outside it.
		c.say("/deploy demo v1.0.0 production")
		c.waitFor("bob's production run", runSel(3, `[data-state="checklist"]`))
		c.click("bob cancels his run", runSel(3, ` button[data-action="cancel"]`))
		c.waitFor("bob's run cancelled", runSel(3, `[data-state="cancelled"]`))
		id = 4
	}
	c.as("dan")
	c.say("/deploy demo v1.0.0 production --emergency --reason \"quick start\"")
	c.as("rita")
	c.tickAll(id, "merged", "tests", "artifact", "plan", "rollback", "notified", "change", "migrations")
	c.waitFor("production awaiting approval", runSel(id, `[data-state="awaiting_approval"]`))
	c.click("rita approves production", runSel(id, ` button[data-action="approve"]`))
	c.waitFor("monitored with its validation", runSel(id, `[data-state="monitoring"] .checklist input[data-item="features"]:not(:checked):not(:disabled)`))
	c.tickAll(id, "health", "errors", "latency", "database", "integrations", "flags", "features")
	c.click("rita ends monitoring", runSel(id, ` button[data-action="cancel"]`))
	c.waitFor("production run", runSel(id, `[data-state="succeeded"]`))
	shot := get(c, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "console-quickstart.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}
