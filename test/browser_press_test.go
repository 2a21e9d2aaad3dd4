package test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// A live update of a message someone is pressing on waits for the release:
// replacing the message between press and release would swallow the
// click. Once released, the page shows the update.
func TestConsoleHoldsAnUpdateWhileAMessageIsPressed(t *testing.T) {
	b, c := openConsole(t, "configs/shipmate.yaml")
	c.as("bob")
	id := b.request("bob", "/deploy demo v1.0.0 staging")
	c.waitFor("the checklist", runSel(int(id), `[data-state="checklist"] input[data-item="tests"]`))

	box := runSel(int(id), ` input[data-item="tests"]`)
	c.run("press on the checklist", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		document.querySelector(%q).dataset.mark = "pressed";
		document.querySelector(%q).dispatchEvent(new PointerEvent("pointerdown", {bubbles: true}));
	})()`, runSel(int(id), ""), box)))
	// Meanwhile alice ticks an item through the API: the update comes.
	b.mustAct(id, "alice", "tick", "merged")
	c.waitFor("the update held", runSel(int(id), `[data-mark="pressed"][data-held="true"]`))
	if got := c.text("the pressed message", runSel(int(id), `[data-mark="pressed"] .note`)); got != "checklist: 4 of 4 items open" {
		t.Fatalf("the pressed message changed under the pointer: %q", got)
	}

	c.run("release", chromedp.Evaluate[chromedp.Void](`document.dispatchEvent(new PointerEvent("pointerup", {bubbles: true}))`))
	c.pollPage("the update shown after the release",
		fmt.Sprintf(`!document.querySelector('[data-mark="pressed"]') && document.querySelector(%q).textContent === "checklist: 3 of 4 items open"`, runSel(int(id), " .note")))
}
