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

// chromium is Debian's Chromium, which `make test` installs.
const chromium = "/usr/bin/chromium"

// artifactsDir is where browser tests leave screenshots.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("SHIPMATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot, "test", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium with a profile of its own and no
// network beyond this machine.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: `make test` installs Debian's chromium package (%v)", chromium, err)
	}
	profile, err := os.MkdirTemp("", "shipmate-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers may still write there for a moment after it stops.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// console drives the web console page as a person would.
type console struct {
	t   *testing.T
	ctx context.Context
}

func (c console) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// text reads a node's text in one step inside the page: live updates
// replace run messages at any time, so a node found in one step may be
// gone in the next.
func (c console) text(what, selector string) string {
	c.t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, selector)
	return get(c, what, chromedp.Evaluate[string](js))
}

// click clicks selector, trying again when a live update replaced the node
// between finding it and clicking it.
func (c console) click(what, selector string) {
	c.t.Helper()
	var err error
	for range 5 {
		ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
		err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector)))
		cancel()
		// The node went between the query and the click ("No node with
		// given id found", "Could not find node with given id").
		if err == nil || !strings.Contains(err.Error(), "node with given id") && !strings.Contains(err.Error(), "No node") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value.
func get[T any](c console, what string, a chromedp.Action[T]) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// as picks who you are in the console's user picker.
func (c console) as(user string) {
	c.t.Helper()
	c.run("pick "+user, chromedp.SetValue(chromedp.ID("user"), user),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			// SetValue sets the value as a script would; a person's choice
			// also fires change.
			_, err := chromedp.Evaluate[chromedp.Void](`document.querySelector("#user").dispatchEvent(new Event("change"))`)(ctx, t)
			return err
		}))
}

// say types a command into the message box and sends it.
func (c console) say(text string) {
	c.t.Helper()
	c.run("type "+text,
		// Like selecting what is left in the box and typing over it.
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](`document.querySelector("#input").value = ""`)(ctx, t)
			return err
		}),
		chromedp.SendKeys(chromedp.ID("input"), text),
		chromedp.Click(chromedp.CSS("#composer button")),
	)
}

// privateSays waits until the reply only this user sees contains text.
func (c console) privateSays(text string) {
	c.t.Helper()
	js := fmt.Sprintf(`document.querySelector("#private").textContent.includes(%q)`, text)
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(c.ctx, chromedp.TextContent(chromedp.ID("private")))
		c.t.Fatalf("private reply: want %q, got %q (%v)", text, got, err)
	}
}

// privateSaysOneOf waits until the reply only this user sees contains one
// of texts.
func (c console) privateSaysOneOf(texts ...string) {
	c.t.Helper()
	var conds []string
	for _, text := range texts {
		conds = append(conds, fmt.Sprintf(`document.querySelector("#private").textContent.includes(%q)`, text))
	}
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](strings.Join(conds, " || "), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(c.ctx, chromedp.TextContent(chromedp.ID("private")))
		c.t.Fatalf("private reply: want one of %q, got %q (%v)", texts, got, err)
	}
}

// pollPage waits until the script js, run in the page, is true.
func (c console) pollPage(what, js string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		html, _ := chromedp.Run(c.ctx, chromedp.OuterHTML(chromedp.ID("timeline")))
		c.t.Fatalf("%s: not shown (%v); timeline:\n%s", what, err, html)
	}
}

// tickAll ticks items of run id's list, each once the server recorded the
// one before: its message, rendered from the server's state, names who
// ticked it. A live update can replace the message between the box being
// found and clicked, and the click then lands on nothing: the box is
// clicked again while the server shows it open.
func (c console) tickAll(id int, items ...string) {
	c.t.Helper()
	for _, item := range items {
		box := runSel(id, ` input[data-item="`+item+`"]`)
		recorded := fmt.Sprintf(`!!document.querySelector(%q)`, runSel(id, ` li:has(input[data-item="`+item+`"]) .by`))
		checked := fmt.Sprintf(`!!document.querySelector(%q)`, box+":checked")
		for try := 0; ; try++ {
			// A box ticked whose tick is not shown yet is left alone:
			// clicking it would untick it.
			if !get(c, "read the box", chromedp.Evaluate[bool](checked)) {
				c.click("tick "+item, box)
			}
			ctx, cancel := context.WithTimeout(c.ctx, stateTimeout/4)
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](recorded, chromedp.WithPollingInterval(50*time.Millisecond)))
			cancel()
			if err == nil {
				break
			}
			if try == 3 {
				html, _ := chromedp.Run(c.ctx, chromedp.OuterHTML(chromedp.ID("timeline")))
				c.t.Fatalf("tick %s: never recorded; timeline:\n%s", item, html)
			}
		}
	}
}

// openConsole starts the bot in a folder where configs/ is the
// repository's (its demo scripts are named relative to it) on config, and
// opens its console in a browser. A config of more than one line is the
// configuration's text.
func openConsole(t *testing.T, config string) (*bot, console) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repoRoot, "configs"), filepath.Join(dir, "configs")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(config, "\n") {
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		config = "config.yaml"
	}
	b := startBot(t, "bot", dir, config, "--listen", "127.0.0.1:0")
	c := console{t: t, ctx: browser(t)}
	c.run("open the console", chromedp.Navigate("http://"+b.addr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	return b, c
}

// waitFor waits until the page shows selector.
func (c console) waitFor(what, selector string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		html, _ := chromedp.Run(c.ctx, chromedp.OuterHTML(chromedp.ID("timeline")))
		c.t.Fatalf("%s: %s never showed (%v); timeline:\n%s", what, selector, err, html)
	}
}

func runSel(id int, rest string) string { return fmt.Sprintf(`article[data-ref="run-%d"]%s`, id, rest) }

// TestConsoleDeploysThroughTheWorkflow drives the console in a real browser
// on the example configuration: development deploys at once, staging needs
// its checklist and the tech lead, production refuses a version staging
// has not had.
func TestConsoleDeploysThroughTheWorkflow(t *testing.T) {
	dir := t.TempDir()
	// The example configuration names its demo scripts relative to the
	// working directory, as configs/demo/...; its store goes to data/.
	if err := os.Symlink(filepath.Join(repoRoot, "configs"), filepath.Join(dir, "configs")); err != nil {
		t.Fatal(err)
	}
	b := startBot(t, "bot", dir, "configs/example.yaml", "--listen", "127.0.0.1:0")
	ctx := browser(t)
	c := console{t: t, ctx: ctx}
	c.run("open the console", chromedp.Navigate("http://"+b.addr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))

	// bob deploys demo v1.0.0 to development and sees it succeed.
	c.as("bob")
	c.say("/deploy demo v1.0.0 dev")
	c.privateSays("Run #1: demo v1.0.0 → development requested.")
	c.waitFor("development run", runSel(1, `[data-state="succeeded"]`))
	log := c.text("read the step output", runSel(1, " .log"))
	if !strings.Contains(log, "switching traffic") {
		t.Fatalf("step output under the message: %q", log)
	}

	// bob asks for staging and sees the checklist; his approval is refused.
	c.say("/deploy demo v1.0.0 staging")
	c.waitFor("staging checklist", runSel(2, `[data-state="checklist"] .checklist input[data-item="plan"]`))
	boxes := get(c, "count checklist items", chromedp.Evaluate[int](`document.querySelectorAll('article[data-ref="run-2"] .checklist input').length`))
	if boxes != 4 {
		t.Fatalf("staging checklist has %d items, want 4", boxes)
	}
	c.click("bob presses Approve", runSel(2, ` button[data-action="approve"]`))
	c.privateSays("run #2 can't be approved yet: 4 of 4 checklist items are open")

	// alice ticks every item and approves; it succeeds.
	c.as("alice")
	c.tickAll(2, "merged", "tests", "artifact", "plan")
	by := c.text("read who ticked", runSel(2, ` .checklist li .by`))
	if !strings.Contains(by, "alice") {
		t.Fatalf("tick not shown as alice's: %q", by)
	}
	c.waitFor("awaiting approval", runSel(2, `[data-state="awaiting_approval"]`))
	c.as("bob")
	c.click("bob presses Approve again", runSel(2, ` button[data-action="approve"]`))
	c.privateSays("only tech-lead may approve staging deployments")
	c.as("alice")
	c.click("alice presses Approve", runSel(2, ` button[data-action="approve"]`))
	c.privateSays("You approved run #2")
	c.waitFor("staging run", runSel(2, `[data-state="succeeded"]`))

	// bob tries production with a version staging has not had.
	c.as("bob")
	c.say("/deploy demo v2.0.0 production")
	c.privateSays("demo v2.0.0 has not succeeded in staging yet: production deploys require it there first")
	runs := get(c, "count runs", chromedp.Evaluate[int](`document.querySelectorAll("article.run").length`))
	if runs != 2 {
		t.Fatalf("the refused request shows %d runs, want 2", runs)
	}

	shot := get(c, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "console-refusal.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// A reload shows the same runs, from the store.
	c.run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	c.waitFor("history after reload", runSel(2, `[data-state="succeeded"]`))
	c.waitFor("history after reload", runSel(1, `[data-state="succeeded"]`))

	png := get(c, "screenshot", chromedp.CaptureScreenshot())
	path := filepath.Join(artifactsDir(t), "console.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestConsoleConfirmsPostDeploymentValidation takes a version to
// production in a real browser, on the example configuration with its
// production window always open, its holiday freeze left out (the test runs
// on the real clock) and a monitoring window of two seconds:
// once monitored, the run lists the post-deployment validation to confirm;
// the window's end leaves it monitored with a notice saying what is open,
// and confirming the last item makes it a success.
func TestConsoleConfirmsPostDeploymentValidation(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(repoRoot, "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	for old, repl := range map[string]string{
		`windows: ["Mon-Thu 09:00-16:00 UTC"]`: `windows: ["daily 00:00-24:00 UTC"]`,
		"monitor: 30m":                         "monitor: 2s",
		`- {from: 2026-12-21, to: 2027-01-04, reason: "holidays"}`: "",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("configs/example.yaml no longer has %q", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	_, c := openConsole(t, text)
	c.as("bob")
	c.say("/deploy demo v3.0.0 staging")
	c.as("alice")
	c.tickAll(1, "merged", "tests", "artifact", "plan")
	// A box shows ticked as soon as it is clicked: wait for the server.
	c.waitFor("staging awaiting approval", runSel(1, `[data-state="awaiting_approval"]`))
	c.click("alice approves staging", runSel(1, ` button[data-action="approve"]`))
	c.waitFor("staging run", runSel(1, `[data-state="succeeded"]`))

	c.as("bob")
	c.say("/deploy demo v3.0.0 production")
	c.as("rita")
	c.tickAll(2, "merged", "tests", "artifact", "plan", "rollback", "notified", "change", "migrations")
	c.waitFor("production awaiting approval", runSel(2, `[data-state="awaiting_approval"]`))
	c.click("rita approves production", runSel(2, ` button[data-action="approve"]`))
	c.waitFor("monitoring with the validation", runSel(2, `[data-state="monitoring"] .checklist input[data-item="features"]:not(:checked):not(:disabled)`))
	if got := c.text("read the list's title", runSel(2, ` .items-title`)); got != "Post-deployment validation" {
		t.Fatalf("the monitored run's list is titled %q", got)
	}
	validation := []string{"health", "errors", "latency", "database", "integrations", "flags", "features"}
	c.tickAll(2, validation[:6]...)

	// The two-second window ends with one item open: still monitored, and
	// the channel is told what is missing.
	js := `[...document.querySelectorAll("article.notice")].some(n => n.textContent.includes("post-deployment validation still has 1 open: User-facing features working"))`
	ctx, cancel := context.WithTimeout(c.ctx, stateTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("no notice of the open validation item: %v", err)
	}
	c.waitFor("still monitoring", runSel(2, `[data-state="monitoring"]`))

	c.tickAll(2, "features")
	c.waitFor("production run", runSel(2, `[data-state="succeeded"]`))
	if note := c.text("read the note", runSel(2, " .note")); !strings.Contains(note, "its post-deployment validation is complete; validated by rita") {
		t.Fatalf("note %q", note)
	}
	shot := get(c, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "console-validation.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}
