package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// Items Shipmate checks itself are shown with the finding and its link,
// and are no checkbox anyone could tick.
func TestRenderAutomatedChecklistItems(t *testing.T) {
	m := runbook.Message{RunID: 5, Title: "#5 billing 1.2 → staging", Status: "checklist", State: runbook.StateChecklist,
		Items: []runbook.Item{
			{Key: "merged", Label: "Code merged to release branch", Editable: true},
			{Key: "tests", Label: "All tests passing", Done: true, By: "Shipmate", Auto: true,
				Detail: "ci/billing #412: SUCCESS", Link: "https://jenkins.example.com/job/ci/job/billing/412/"},
			{Key: "artifact", Label: "Build artifact created and tagged", Auto: true, Detail: "no build of release/billing for 1.2"},
		}}
	blocks := renderBlocks(m)
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		":white_check_mark: All tests passing — _checked by Shipmate_: ci/billing #412: SUCCESS <https://jenkins.example.com/job/ci/job/billing/412/|view>",
		":x: Build artifact created and tagged — _checked by Shipmate_: no build of release/billing for 1.2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("blocks lack %q:\n%s", want, text)
		}
	}
	for _, b := range blocks {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || !strings.HasPrefix(ab.BlockID, blockChecklistPrefix) {
			continue
		}
		for _, el := range ab.Elements.ElementSet {
			cb := el.(*slack.CheckboxGroupsBlockElement)
			if len(cb.Options) != 1 || cb.Options[0].Value != "merged" {
				t.Fatalf("checkbox options = %+v, want only the manual item", cb.Options)
			}
		}
	}
	items := checklistElementItems([]runbook.CheckItem{{Key: "merged"}, {Key: "tests", Auto: true}, {Key: "plan"}}, actionChecklist)
	if len(items) != 2 || items[1].Key != "plan" {
		t.Fatalf("element items = %+v", items)
	}
}
