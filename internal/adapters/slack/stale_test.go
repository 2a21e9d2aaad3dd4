package slack

import (
	"net/http"
	"testing"
)

// TestStaleChecklistViewUnticksNothing: Slack sends every option selected
// in the element as the clicking user's message shows it. A message not
// yet edited with someone else's tick must not untick that tick: only what
// this click changed counts.
func TestStaleChecklistViewUnticksNothing(t *testing.T) {
	f := newFlow(t, flowOptions{})
	id := f.request("U0DEV", "C0RELEASE", "demo v1.2.0 staging")
	f.accepted(f.click("U0LEAD", id, ticks(id, "merged")))
	f.settle()

	// U0DEV's view: only "merged" ticked. Before U0DEV clicks, U0LEAD
	// ticks "tests" in an up-to-date view.
	stale := f.interactionBody("U0DEV", id, f.triggerID(), f.fake.ResponseURL(), ticks(id, "merged", "artifact"))
	f.accepted(f.click("U0LEAD", id, ticks(id, "merged", "tests")))
	f.settle()
	res := f.signed("/slack/interactions", formType, stale, nil)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	f.settle()

	done := map[string]string{}
	for _, it := range f.run(id).Checklist {
		if it.Done {
			done[it.Key] = it.By.ID
		}
	}
	want := map[string]string{"merged": "U0LEAD", "tests": "U0LEAD", "artifact": "U0DEV"}
	if len(done) != len(want) {
		t.Fatalf("ticked = %v, want %v", done, want)
	}
	for k, by := range want {
		if done[k] != by {
			t.Fatalf("ticked = %v, want %v", done, want)
		}
	}
}
