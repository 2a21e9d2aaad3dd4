package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// procedureConfig is the example configuration with production's window
// always open, its holiday freeze left out (the test runs on the real
// clock), a monitoring window of one second and no validation to confirm,
// so that a production deploy succeeds on its own; the demo app verifies
// what it runs, which the rollback procedure's validation uses.
func procedureConfig(t *testing.T, dir string) string {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(repoRoot, "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	for old, repl := range map[string]string{
		`windows: ["Mon-Thu 09:00-16:00 UTC"]`: `windows: ["daily 00:00-24:00 UTC"]`,
		"monitor: 30m":                         "monitor: 1s",
		`- {from: 2026-12-21, to: 2027-01-04, reason: "holidays"}`:                       "",
		"validation: [health, errors, latency, database, integrations, flags, features]": "",
		`rollback: ["sh", "configs/demo/rollback.sh"]`:                                   `rollback: ["sh", "configs/demo/rollback.sh"]` + "\n      verify: [\"sh\", \"configs/demo/verify.sh\"]",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("configs/example.yaml no longer has %q", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	if !strings.Contains(text, "rollback_procedure: true") {
		t.Fatal("configs/example.yaml no longer gives production the rollback procedure")
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return "config.yaml"
}

// until waits until the page's script js is true.
func (c console) until(what, js string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		html, _ := chromedp.Run(c.ctx, chromedp.OuterHTML(chromedp.ID("timeline")))
		c.t.Fatalf("%s: never so (%v); timeline:\n%s", what, err, html)
	}
}

// tick ticks item of run id and waits until the run shows it ticked.
func (c console) tick(id int, item string) {
	c.t.Helper()
	c.tickAll(id, item)
}

// noticeSays is a script true once a notice in the channel contains text.
func noticeSays(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("article.notice")].some(n => n.textContent.includes(%q))`, text)
}

// procItem is the text of procedure item key's line in run id.
func (c console) procItem(id int, key string) string {
	c.t.Helper()
	js := fmt.Sprintf(`((document.querySelector(%q) || {closest: () => null}).closest("li") || {textContent: ""}).textContent`,
		runSel(id, ` input[data-item="`+key+`"]`))
	return get(c, "read procedure item "+key, chromedp.Evaluate[string](js))
}

// deployToProduction takes version of demo through staging and production:
// bob requests, alice and rita tick the checklists and approve.
func (c console) deployToProduction(staging, production int, version string) {
	c.t.Helper()
	c.as("bob")
	c.say("/deploy demo " + version + " staging")
	c.privateSays(fmt.Sprintf("Run #%d: demo %s → staging requested.", staging, version))
	c.as("alice")
	for _, item := range []string{"merged", "tests", "artifact", "plan"} {
		c.tick(staging, item)
	}
	c.waitFor("staging awaiting approval", runSel(staging, `[data-state="awaiting_approval"]`))
	c.click("alice approves staging", runSel(staging, ` button[data-action="approve"]`))
	c.waitFor("staging run", runSel(staging, `[data-state="succeeded"]`))

	c.as("bob")
	c.say("/deploy demo " + version + " production")
	c.privateSays(fmt.Sprintf("Run #%d: demo %s → production requested.", production, version))
	c.as("rita")
	for _, item := range []string{"merged", "tests", "artifact", "plan", "rollback", "notified", "change", "migrations"} {
		c.tick(production, item)
	}
	c.waitFor("production awaiting approval", runSel(production, `[data-state="awaiting_approval"]`))
	c.click("rita approves production", runSel(production, ` button[data-action="approve"]`))
	c.privateSays(fmt.Sprintf("You approved run #%d", production))
	c.waitFor("production run", runSel(production, `[data-state="succeeded"]`))
}

// TestConsoleRunsTheRollbackProcedure takes two versions to production in
// a real browser and rolls the second back: the rollback run's message
// lists the handbook's seven steps; a developer's tick is refused; the
// rollback owners tick theirs in turn while Shipmate notifies the incident
// commander, rolls back, validates and posts the incident record, each item
// saying who did it; bot export --incident prints the same record.
func TestConsoleRunsTheRollbackProcedure(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repoRoot, "configs"), filepath.Join(dir, "configs")); err != nil {
		t.Fatal(err)
	}
	config := procedureConfig(t, dir)
	b := startBot(t, "bot", dir, config, "--listen", "127.0.0.1:0")
	c := console{t: t, ctx: browser(t)}
	c.run("open the console", chromedp.Navigate("http://"+b.addr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))

	c.deployToProduction(1, 2, "v1.0.0")
	c.deployToProduction(3, 4, "v2.0.0")

	// ivan, of incident response, rolls production back.
	c.as("ivan")
	c.say("/rollback demo production")
	const rb = 5
	c.waitFor("the procedure", runSel(rb, `[data-state="rollback_procedure"] .checklist input[data-item="document"]`))
	if got := c.text("read the list's title", runSel(rb, ` .items-title`)); got != "Rollback procedure" {
		t.Fatalf("the rollback run's list is titled %q", got)
	}
	labels := get(c, "read the procedure", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('article[data-ref="run-5"] .checklist label')].map(l => l.textContent.trim())`))
	want := []string{"Assess whether rollback is safe", "Notify incident commander", "Stop incoming requests if possible",
		"Trigger automated rollback", "Validate rollback success", "Restore from backup if needed", "Document incident"}
	if strings.Join(labels, "|") != strings.Join(want, "|") {
		t.Fatalf("procedure items:\n got %q\nwant %q", labels, want)
	}
	if a := c.procItem(rb, "assess"); !strings.Contains(a, "rolls back v2.0.0 → v1.0.0") {
		t.Fatalf("the assessment does not say what is rolled back: %q", a)
	}
	if r := c.procItem(rb, "rollback"); strings.Contains(r, "checked by Shipmate") {
		t.Fatalf("the rollback shows as done before it ran: %q", r)
	}
	c.waitFor("assess open to tick", runSel(rb, ` input[data-item="assess"]:not(:checked):not(:disabled)`))

	// dan, of devops, owns no rollback in production: his tick is refused
	// and the box stays open.
	c.as("dan")
	c.click("dan ticks assess", runSel(rb, ` input[data-item="assess"]`))
	c.privateSays("only incident-response or release-manager or break-glass may take the steps of the rollback procedure of run #5")
	c.waitFor("assess still open", runSel(rb, ` input[data-item="assess"]:not(:checked)`))
	if n := c.text("read the note", runSel(rb, " .note")); !strings.Contains(n, "1 of 7") {
		t.Fatalf("after the refused tick the run's note says %q", n)
	}

	// ivan assesses; Shipmate tells the incident commander.
	c.as("ivan")
	c.tick(rb, "assess")
	c.until("the incident commander's notice", noticeSays("@ivan Incident commander: ivan is rolling demo in production back from v2.0.0 to v1.0.0"))
	c.waitFor("notify ticked", runSel(rb, ` input[data-item="notify"]:checked`))

	// The demo app has no drain step: a rollback owner stops requests by
	// hand; rita does, as release manager.
	c.waitFor("drain left to a person", runSel(rb, ` input[data-item="drain"]:not(:checked):not(:disabled)`))
	c.as("rita")
	c.tick(rb, "drain")

	// Shipmate rolls back and validates; restoring is ivan's call.
	c.waitFor("rollback ticked", runSel(rb, ` input[data-item="rollback"]:checked`))
	c.waitFor("validate ticked", runSel(rb, ` input[data-item="validate"]:checked`))
	c.waitFor("restore open to tick", runSel(rb, ` input[data-item="restore"]:not(:checked):not(:disabled)`))
	c.as("ivan")
	c.tick(rb, "restore")

	c.waitFor("rolled back", runSel(rb, `[data-state="rolled_back"] input[data-item="document"]:checked`))
	c.until("the incident record", noticeSays("Incident record: #5"))

	for key, by := range map[string]string{
		"assess": "✓ ivan", "notify": "checked by Shipmate: notified: ivan", "drain": "✓ rita",
		"rollback": "checked by Shipmate", "validate": "checked by Shipmate", "restore": "✓ ivan",
		"document": "checked by Shipmate: incident record posted",
	} {
		if line := c.procItem(rb, key); !strings.Contains(line, by) {
			t.Errorf("procedure item %s: want %q in %q", key, by, line)
		}
	}
	record := get(c, "read the incident record", chromedp.Evaluate[string](
		`[...document.querySelectorAll("article.notice")].map(n => n.innerText).find(t => t.includes("Incident record: #5")) || ""`))
	for _, s := range []string{"Assess whether rollback is safe — ivan", "Stop incoming requests if possible — rita", "\n## Timeline\n"} {
		if !strings.Contains(record, s) {
			t.Errorf("the incident record in the channel lacks %q:\n%s", s, record)
		}
	}
	c.run("show the procedure and the notices after it", chromedp.Evaluate[chromedp.Void](
		`document.querySelector('article[data-ref="run-5"]').scrollIntoView()`))
	shot := get(c, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "console-rollback-procedure.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	checkIncidentExport(t, dir, config, rb)
}

// checkIncidentExport runs bot export --incident for rollback run id of
// TestConsoleRunsTheRollbackProcedure and checks the Markdown names who did
// each step and has the timeline of both runs.
func checkIncidentExport(t *testing.T, dir, config string, id int) {
	t.Helper()
	res := runOnce(t, dir, 10*time.Second, "export", "--config", config, "--incident", fmt.Sprint(id))
	if res.code != 0 {
		t.Fatalf("bot export --incident %d: exit %d\nstderr: %s", id, res.code, res.stderr)
	}
	for _, s := range []string{
		fmt.Sprintf("# Incident record: rollback #%d of demo in production", id),
		"- **Rolled back:** v2.0.0 → v1.0.0",
		"- **State:** rolled back",
		"Assess whether rollback is safe — ivan",
		"Notify incident commander — Shipmate",
		"Stop incoming requests if possible — rita",
		"Trigger automated rollback — Shipmate",
		"Validate rollback success — Shipmate",
		"Restore from backup if needed — ivan",
		"Document incident — Shipmate",
		"\n## Timeline\n",
		fmt.Sprintf("| #%d | ivan |", id),
		fmt.Sprintf("| #%d | rita |", id),
		"| #4 | bob |",
		"| #4 | rita |",
	} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("bot export --incident %d lacks %q:\n%s", id, s, res.stdout)
		}
	}
}
