package test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleShowsTheAnalysis watches the post-deployment analysis in a
// real browser: the run's message carries the live line with the error
// ratio against its baseline, and the validation item ends checked by
// Shipmate with its figures and a link to the graph; an error spike rolls
// the next deploy back, which the page shows with the figures.
func TestConsoleShowsTheAnalysis(t *testing.T) {
	f, svc, _ := analysedFixture(t)
	b := f.start()
	c := console{t: t, ctx: browser(t)}
	c.run("open the console", chromedp.Navigate("http://"+b.addr+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))

	c.as("bob")
	c.say("/deploy demo v1 canary")
	c.pollPage("the live line on the run's message",
		`[...document.querySelectorAll('article[data-ref="run-1"] .fields dd')].some(d => d.textContent.startsWith("monitoring ") && d.textContent.includes("errors 1% (baseline 1%)"))`)
	c.waitFor("the clean deploy", runSel(1, `[data-state="succeeded"]`))
	c.waitFor("the item confirmed", runSel(1, ` input[data-item="errors"]:checked`))
	note := c.text("read the item's note", runSel(1, ` .checklist .by.auto`))
	if !strings.Contains(note, "checked by Shipmate: errors 1% (baseline 1%); max 5%, at most 3× the baseline") {
		t.Fatalf("the confirmed item says %q", note)
	}
	if href := c.text("read the graph link", runSel(1, ` .checklist .by.auto a`)); href != "view" {
		t.Fatalf("the confirmed item links %q, want a view of the graph", href)
	}

	c.say("/deploy demo v2 canary")
	c.waitFor("the second deploy monitored", runSel(2, `[data-state="monitoring"]`))
	svc.Set(0.5, 0.15)
	c.waitFor("the spike rolled back", runSel(2, `[data-state="rolled_back"]`))
	c.pollPage("the figures of the failure on the page",
		`[...document.querySelectorAll('article[data-ref="run-2"] .fields dd')].some(d => /errors [0-9.]+% \(baseline 1%\) ✗ 2 in a row/.test(d.textContent))`)
}
