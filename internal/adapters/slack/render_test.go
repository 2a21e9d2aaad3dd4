package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"shipmate/internal/chat/chattest"
	"shipmate/internal/runbook"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current rendering")

// renderTestT0 is when the fixtures' runs were created.
var renderTestT0 = chattest.T0

// renderTestMessage renders run r the way the engine does.
func renderTestMessage(r *runbook.Run) runbook.Message { return chattest.FixtureMessage(r) }

// renderTestRun is run #12, demo v1.2 to production, in state s.
func renderTestRun(s runbook.State) *runbook.Run { return chattest.FixtureRun(Platform, s) }

// renderTestJSON is what a golden file holds: the text and blocks Slack
// gets for m.
func renderTestJSON(t *testing.T, m runbook.Message) []byte {
	t.Helper()
	return chattest.GoldenJSON(t, map[string]any{"text": renderText(m), "blocks": renderBlocks(m)})
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range chattest.Fixtures(Platform) {
		t.Run(tc.Name, func(t *testing.T) {
			want := chattest.Golden(t, tc.Name+".golden.json", renderTestJSON(t, tc.Message), *update)
			path := filepath.Join("testdata", tc.Name+".golden.json")

			// Slack's library reads the golden JSON back to the same blocks.
			var back struct {
				Text   string       `json:"text"`
				Blocks slack.Blocks `json:"blocks"`
			}
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatalf("slack.Blocks cannot read %s: %v", path, err)
			}
			if len(back.Blocks.BlockSet) != len(renderBlocks(tc.Message)) {
				t.Fatalf("read back %d blocks, rendered %d", len(back.Blocks.BlockSet), len(renderBlocks(tc.Message)))
			}
			for _, b := range back.Blocks.BlockSet {
				if _, unknown := b.(*slack.UnknownBlock); unknown {
					t.Errorf("slack.Blocks does not know block type %q", b.BlockType())
				}
			}
			again, err := json.Marshal(back.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := json.Marshal(renderBlocks(tc.Message))
			if !renderTestSameJSON(t, orig, again) {
				t.Errorf("blocks change on a round trip through slack.Blocks:\nrendered %s\nread back %s", orig, again)
			}

			renderTestCheck(t, tc.Message, renderBlocks(tc.Message))
		})
	}
}

// renderTestSameJSON reports whether two JSON documents hold the same value.
func renderTestSameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// renderTestCheck asserts what the interaction handler and Slack rely on:
// Block Kit's limits, buttons and checkboxes that lead back to the run and
// action, and the checklist's initial options.
func renderTestCheck(t *testing.T, m runbook.Message, blocks []slack.Block) {
	t.Helper()
	if len(blocks) == 0 || len(blocks) > renderMaxBlocks {
		t.Errorf("%d blocks, want 1 to %d", len(blocks), renderMaxBlocks)
	}
	text := func(what string, o *slack.TextBlockObject, max int) {
		t.Helper()
		if o == nil {
			t.Errorf("%s: no text", what)
			return
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if n := utf8.RuneCountInString(o.Text); n > max {
			t.Errorf("%s: %d characters, limit %d", what, n, max)
		}
	}
	var buttons []runbook.ButtonAction
	sawChecklist := false
	blockIDs := map[string]bool{}
	for i, b := range blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.BlockType())
		if id := b.ID(); id != "" {
			if blockIDs[id] {
				t.Errorf("%s: block id %q repeats", where, id)
			}
			blockIDs[id] = true
		}
		switch b := b.(type) {
		case *slack.HeaderBlock:
			text(where, b.Text, renderMaxHeader)
			if b.Text.Type != slack.PlainTextType {
				t.Errorf("%s: header must be plain_text", where)
			}
		case *slack.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("%s: neither text nor fields", where)
			}
			if b.Text != nil {
				text(where, b.Text, renderMaxSectionText)
			}
			if len(b.Fields) > renderMaxFields {
				t.Errorf("%s: %d fields, limit %d", where, len(b.Fields), renderMaxFields)
			}
			for _, f := range b.Fields {
				text(where+" field", f, renderMaxFieldText)
			}
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n == 0 || n > 10 {
				t.Errorf("%s: %d elements", where, n)
			}
			for _, e := range b.ContextElements.Elements {
				if o, ok := e.(*slack.TextBlockObject); ok {
					text(where, o, renderMaxContextText)
				}
			}
		case *slack.ActionBlock:
			if n := len(b.Elements.ElementSet); n == 0 || n > renderMaxElements {
				t.Errorf("%s: %d elements", where, n)
			}
			switch {
			case strings.HasPrefix(b.BlockID, blockActionsPrefix):
				if id, err := strconv.ParseUint(strings.TrimPrefix(b.BlockID, blockActionsPrefix), 10, 64); err != nil || id != m.RunID {
					t.Errorf("%s: block id %q does not name run %d", where, b.BlockID, m.RunID)
				}
				for _, e := range b.Elements.ElementSet {
					btn, ok := e.(*slack.ButtonBlockElement)
					if !ok {
						t.Errorf("%s: element %T in the buttons block", where, e)
						continue
					}
					buttons = append(buttons, renderTestCheckButton(t, m, btn))
				}
			case strings.HasPrefix(b.BlockID, blockChecklistPrefix):
				sawChecklist = true
				renderTestCheckChecklist(t, m, b)
			default:
				t.Errorf("%s: unexpected block id %q", where, b.BlockID)
			}
		default:
			t.Errorf("%s: unexpected block %T", where, b)
		}
	}

	var want []runbook.ButtonAction
	for _, b := range m.Buttons {
		if !slices.Contains(want, b.Action) {
			want = append(want, b.Action)
		}
	}
	if !slices.Equal(buttons, want) {
		t.Errorf("buttons lead to actions %v, want %v", buttons, want)
	}
	editable := slices.ContainsFunc(m.Items, func(it runbook.Item) bool { return it.Editable })
	if sawChecklist != editable {
		t.Errorf("checkboxes shown: %v, editable items: %v", sawChecklist, editable)
	}
}

// renderTestCheckButton checks one button and returns the action it leads to.
func renderTestCheckButton(t *testing.T, m runbook.Message, btn *slack.ButtonBlockElement) runbook.ButtonAction {
	t.Helper()
	action := runbook.ButtonAction(btn.ActionID)
	i := slices.IndexFunc(m.Buttons, func(b runbook.Button) bool { return b.Action == action })
	if i < 0 {
		t.Errorf("button %q: no such action in the message", btn.ActionID)
		return action
	}
	src := m.Buttons[i]
	idText, bound, _ := strings.Cut(btn.Value, ":")
	if id, err := strconv.ParseUint(idText, 10, 64); err != nil || id != src.RunID || bound != src.Value {
		t.Errorf("button %q: value %q is not run %d and %q", btn.ActionID, btn.Value, src.RunID, src.Value)
	}
	if utf8.RuneCountInString(btn.Text.Text) > renderMaxButtonText || btn.Text.Type != slack.PlainTextType {
		t.Errorf("button %q: text %q", btn.ActionID, btn.Text.Text)
	}
	if want := slack.Style(src.Style); btn.Style != want {
		t.Errorf("button %q: style %q, want %q", btn.ActionID, btn.Style, want)
	}
	switch {
	case src.Confirm == "" && btn.Confirm != nil:
		t.Errorf("button %q asks for confirmation it was not given", btn.ActionID)
	case src.Confirm != "":
		c := btn.Confirm
		if c == nil {
			t.Errorf("button %q: no confirmation dialog", btn.ActionID)
			break
		}
		if c.Title.Text != "Are you sure?" || c.Confirm.Text != "Yes" || c.Deny.Text != "No" {
			t.Errorf("button %q: confirm %q / %q / %q", btn.ActionID, c.Title.Text, c.Confirm.Text, c.Deny.Text)
		}
		if utf8.RuneCountInString(c.Text.Text) > renderMaxConfirmText || !strings.HasPrefix(src.Confirm, strings.TrimSuffix(c.Text.Text, "…")) {
			t.Errorf("button %q: confirm text %q, want %q", btn.ActionID, c.Text.Text, src.Confirm)
		}
		if wantDanger := src.Style == runbook.StyleDanger; (c.Style == slack.StyleDanger) != wantDanger {
			t.Errorf("button %q: confirm style %q", btn.ActionID, c.Style)
		}
	}
	return action
}

// renderTestCheckChecklist checks the checkboxes: the block id names the run,
// element k holds the items people tick 10(k-1)… in order (those Shipmate
// checks are no checkboxes), and the ticked ones are the initial options.
func renderTestCheckChecklist(t *testing.T, m runbook.Message, b *slack.ActionBlock) {
	t.Helper()
	m.Items = slices.DeleteFunc(slices.Clone(m.Items), func(it runbook.Item) bool { return it.Auto })
	if id, err := strconv.ParseUint(strings.TrimPrefix(b.BlockID, blockChecklistPrefix), 10, 64); err != nil || id != m.RunID {
		t.Errorf("checklist block id %q does not name run %d", b.BlockID, m.RunID)
	}
	var shown []string
	for k, e := range b.Elements.ElementSet {
		cb, ok := e.(*slack.CheckboxGroupsBlockElement)
		if !ok {
			t.Errorf("element %T in the checklist block", e)
			continue
		}
		wantID := actionChecklist
		if k > 0 {
			wantID = fmt.Sprintf("%s-%d", actionChecklist, k+1)
		}
		if cb.ActionID != wantID {
			t.Errorf("checkboxes %d: action id %q, want %q", k, cb.ActionID, wantID)
		}
		if len(cb.Options) == 0 || len(cb.Options) > renderMaxOptions {
			t.Errorf("checkboxes %q: %d options", cb.ActionID, len(cb.Options))
		}
		items := m.Items[min(k*renderMaxOptions, len(m.Items)):min((k+1)*renderMaxOptions, len(m.Items))]
		var keys, done, initial []string
		for _, it := range items {
			keys = append(keys, it.Key)
			if it.Done {
				done = append(done, it.Key)
			}
		}
		var values []string
		for _, o := range cb.Options {
			values = append(values, o.Value)
			if utf8.RuneCountInString(o.Text.Text) > renderMaxOptionText {
				t.Errorf("option %q: text too long", o.Value)
			}
			if o.Description != nil && utf8.RuneCountInString(o.Description.Text) > renderMaxOptionText {
				t.Errorf("option %q: description too long", o.Value)
			}
		}
		for _, o := range cb.InitialOptions {
			initial = append(initial, o.Value)
		}
		if !slices.Equal(values, keys) {
			t.Errorf("checkboxes %q: options %v, want items %v", cb.ActionID, values, keys)
		}
		if !slices.Equal(initial, done) {
			t.Errorf("checkboxes %q: initial options %v, want the done items %v", cb.ActionID, initial, done)
		}
		shown = append(shown, values...)
	}
	if len(m.Items) <= renderMaxOptions*renderMaxElements && len(shown) != len(m.Items) {
		t.Errorf("checkboxes show %d of %d items", len(shown), len(m.Items))
	}
}

func TestRenderEscapesText(t *testing.T) {
	m := renderTestMessage(renderTestRun(runbook.StateAwaitingApproval))
	m.Title = "#12 demo <b>v1.2</b> → production"
	m.Text = "<script>alert('x')</script> & <!channel>"
	m.Fields = append(m.Fields, runbook.Field{Label: "Reason <why>", Value: "fix <@U0EVIL> & <https://evil.example|click>"})
	m.Items[0].Label = "Read <docs> & sign"
	m.Items[1].By = "bob <bob@example.com>"
	for i := range m.Items {
		m.Items[i].Editable = false
	}
	all, _ := json.Marshal(renderBlocks(m))
	var texts []string
	for _, b := range renderBlocks(m) {
		if s, ok := b.(*slack.SectionBlock); ok {
			if s.Text != nil {
				texts = append(texts, s.Text.Text)
			}
			for _, f := range s.Fields {
				texts = append(texts, f.Text)
			}
		}
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{
		"&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;!channel&gt;",
		"*Reason &lt;why&gt;*\nfix &lt;@U0EVIL&gt; &amp; &lt;https://evil.example|click&gt;",
		"Read &lt;docs&gt; &amp; sign",
		"bob &lt;bob@example.com&gt;",
		"*Requested by*\n<@U0RM>",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("mrkdwn text lacks %q:\n%s", want, joined)
		}
	}
	for _, bad := range []string{"<script>", "<!channel>", "<@U0EVIL>", "<https://", "& <", "<docs>"} {
		if strings.Contains(joined, bad) {
			t.Errorf("mrkdwn text has unescaped %q:\n%s", bad, joined)
		}
	}
	// Plain text is shown as given: escaping it would show "&amp;".
	if !strings.Contains(string(all), `"text":"#12 demo \u003cb\u003ev1.2\u003c/b\u003e → production"`) {
		t.Errorf("header not plain: %s", all)
	}
	if got, want := renderText(m), "#12 demo &lt;b&gt;v1.2&lt;/b&gt; → production: awaiting approval"; got != want {
		t.Errorf("renderText = %q, want %q", got, want)
	}
	n := runbook.Message{Title: "demo & co", Text: "a <b> & c"}
	if got := renderBlocks(n)[0].(*slack.SectionBlock).Text.Text; got != "a &lt;b&gt; &amp; c" {
		t.Errorf("notice text = %q", got)
	}
	if got, want := renderText(n), "demo &amp; co: a &lt;b&gt; &amp; c"; got != want {
		t.Errorf("renderText(notice) = %q, want %q", got, want)
	}
}

func TestRenderLimits(t *testing.T) {
	long := func(n int, unit string) string { return strings.Repeat(unit, n) }
	m := runbook.Message{
		RunID: 987654321, Title: "#987654321 " + long(200, "x"), State: runbook.StateChecklist, Status: "checklist",
		Tone: runbook.ToneWaiting, Text: long(2000, "a & b "),
	}
	for i := range 120 {
		m.Fields = append(m.Fields, runbook.Field{Label: fmt.Sprintf("Field %d", i), Value: long(3000, "<")})
	}
	for i := range 300 {
		m.Items = append(m.Items, runbook.Item{Key: fmt.Sprintf("k%d", i), Label: long(100, "é"), Done: i%2 == 0,
			By: long(100, "n"), At: renderTestT0, Editable: true})
	}
	for _, a := range []runbook.ButtonAction{runbook.ButtonApprove, runbook.ButtonReject, runbook.ButtonCancel, runbook.ButtonCancel} {
		m.Buttons = append(m.Buttons, runbook.Button{Action: a, Label: long(100, "B"), Style: runbook.StyleDanger, RunID: m.RunID, Confirm: long(500, "?")})
	}
	blocks := renderBlocks(m)
	renderTestCheck(t, m, blocks)
	if last, ok := blocks[len(blocks)-1].(*slack.ActionBlock); !ok || !strings.HasPrefix(last.BlockID, blockActionsPrefix) {
		t.Errorf("the buttons must survive the cut; blocks end with %T", blocks[len(blocks)-1])
	}
	if h := blocks[0].(*slack.HeaderBlock).Text.Text; !strings.HasSuffix(h, "…") || utf8.RuneCountInString(h) != renderMaxHeader {
		t.Errorf("header = %q (%d characters)", h, utf8.RuneCountInString(h))
	}
	status := blocks[1].(*slack.SectionBlock).Text.Text
	if !strings.HasSuffix(status, "…") || strings.Contains(status[len(status)-10:], "&am…") {
		t.Errorf("status text cut badly: …%q", status[len(status)-20:])
	}
	// A failed run with a long last line still fits.
	m.State, m.Status, m.Log = runbook.StateFailed, "failed", []string{long(5000, "z")}
	m.Items = nil
	renderTestCheck(t, m, renderBlocks(m))
	if c, ok := renderBlocks(m)[len(renderBlocks(m))-1].(*slack.ContextBlock); !ok ||
		!strings.HasPrefix(c.ContextElements.Elements[0].(*slack.TextBlockObject).Text, "Last output: zzz") {
		t.Errorf("no last-output context in a failed run")
	}
	if n := utf8.RuneCountInString(renderText(m)); n > renderMaxNotification {
		t.Errorf("renderText: %d characters", n)
	}
}

func TestRenderChecklistReadOnly(t *testing.T) {
	m := renderTestMessage(renderTestRun(runbook.StateDeploying))
	blocks := renderBlocks(m)
	renderTestCheck(t, m, blocks)
	var list string
	for i, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil && s.Text.Text == "*Pre-deployment checklist*" {
			list = blocks[i+1].(*slack.SectionBlock).Text.Text
		}
	}
	want := "☑ Changelog reviewed — by alice at 14:02 UTC\n" +
		"☑ Database migration tested on staging — by <@U0B0B> at 14:05 UTC\n" +
		"☐ On-call engineer informed\n" +
		"☐ Dashboards open"
	if list != want {
		t.Errorf("read-only checklist:\n%s\nwant:\n%s", list, want)
	}

	// A closed checklist too long for one section is cut, saying so.
	m.Items = nil
	for i := range 300 {
		m.Items = append(m.Items, runbook.Item{Key: fmt.Sprintf("k%d", i), Label: strings.Repeat("<", 80), Done: i%2 == 1, By: "carol"})
	}
	blocks = renderBlocks(m)
	renderTestCheck(t, m, blocks)
	for i, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil && s.Text.Text == "*Pre-deployment checklist*" {
			list = blocks[i+1].(*slack.SectionBlock).Text.Text
		}
	}
	if !strings.HasSuffix(list, " more") || !strings.HasPrefix(list, "☐ &lt;&lt;") {
		t.Errorf("long read-only checklist: %q…%q", list[:20], list[len(list)-20:])
	}
}

func TestRenderNoticeAndText(t *testing.T) {
	m := renderTestMessage(renderTestRun(runbook.StateAwaitingApproval))
	if got, want := renderText(m), "#12 demo v1.2 → production: awaiting approval"; got != want {
		t.Errorf("renderText = %q, want %q", got, want)
	}
	n := runbook.Message{RunID: 12, Title: "demo v1.2 → production", Tone: runbook.ToneInfo, Text: "Reminder:\nstill waiting"}
	blocks := renderBlocks(n)
	if len(blocks) != 2 || blocks[0].BlockType() != slack.MBTSection || blocks[1].BlockType() != slack.MBTContext {
		t.Fatalf("notice blocks: %+v", blocks)
	}
	if got, want := renderText(n), "demo v1.2 → production: Reminder: still waiting"; got != want {
		t.Errorf("renderText(notice) = %q, want %q", got, want)
	}
	if got := renderBlocks(runbook.Message{Title: "only a title"}); len(got) != 1 {
		t.Errorf("title-only notice: %d blocks", len(got))
	}
}

func TestRenderSummary(t *testing.T) {
	r := renderTestRun(runbook.StateSucceeded)
	if got, want := renderSummary(renderTestMessage(r)), ":rocket: #12 demo v1.2 → production — succeeded (requested by <@U0RM>)"; got != want {
		t.Errorf("renderSummary = %q, want %q", got, want)
	}
	r.State, r.Requester = runbook.StateRolledBack, runbook.User{Platform: "slack", ID: "U0RM", Person: "rita & co"}
	if got, want := renderSummary(renderTestMessage(r)), ":leftwards_arrow_with_hook: #12 demo v1.2 → production — rolled back (requested by rita &amp; co)"; got != want {
		t.Errorf("renderSummary = %q, want %q", got, want)
	}
	if got, want := renderSummary(runbook.Message{Title: "#3 x", Status: "failed", State: runbook.StateFailed}), ":x: #3 x — failed"; got != want {
		t.Errorf("renderSummary without requester = %q, want %q", got, want)
	}
}

func TestRenderLog(t *testing.T) {
	if got := renderLog(nil); got != "" {
		t.Errorf("renderLog(nil) = %q", got)
	}
	if got, want := renderLog([]string{"a <b> & c", "ends ``` here"}), "```\na &lt;b&gt; &amp; c\nends `\u200b`` here\n```"; got != want {
		t.Errorf("renderLog = %q, want %q", got, want)
	}

	var lines []string
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("line %04d", i))
	}
	got := renderLog(lines)
	if n := utf8.RuneCountInString(got); n > 3000 {
		t.Errorf("renderLog: %d characters", n)
	}
	if !strings.HasPrefix(got, "```\n…\nline ") || !strings.HasSuffix(got, "\nline 0999\n```") {
		t.Errorf("renderLog did not keep the last lines behind a cut mark: %q…%q", got[:20], got[len(got)-20:])
	}
	// The kept lines are whole and consecutive.
	kept := strings.Split(strings.TrimSuffix(strings.TrimPrefix(got, "```\n…\n"), "\n```"), "\n")
	if first, _ := strconv.Atoi(strings.TrimPrefix(kept[0], "line ")); first+len(kept) != 1000 || len(kept) < 250 {
		t.Errorf("kept %d lines from %q", len(kept), kept[0])
	}

	// Exactly at the limit: nothing is cut.
	exact := []string{strings.Repeat("x", 3000-8)}
	if got := renderLog(exact); utf8.RuneCountInString(got) != 3000 || strings.Contains(got, "…") {
		t.Errorf("a line that just fits was cut")
	}

	// One line too long on its own: its end is kept, not inside an entity.
	huge := []string{"first", strings.Repeat("&", 4000) + "END"}
	got = renderLog(huge)
	if n := utf8.RuneCountInString(got); n > 3000 {
		t.Errorf("renderLog: %d characters", n)
	}
	if !strings.HasPrefix(got, "```\n…\n&amp;") || !strings.HasSuffix(got, "&amp;END\n```") {
		t.Errorf("renderLog of a huge line: %q…%q", got[:20], got[len(got)-20:])
	}
}

func TestRenderUser(t *testing.T) {
	for in, want := range map[string]string{
		"U0RM":      "<@U0RM>",
		"W012AB3CD": "<@W012AB3CD>",
		"<@U0RM>":   "<@U0RM>",
		"UNKNOWN":   "UNKNOWN",
		"alice":     "alice",
		"U2":        "U2",
		"bob <x>":   "bob &lt;x&gt;",
	} {
		if got := renderUser(in); got != want {
			t.Errorf("renderUser(%q) = %q, want %q", in, got, want)
		}
	}
}
