package slack

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// Action ids and block ids the adapter's interaction handler relies on.
//
// A checkboxes element holds at most ten options, so a longer checklist is
// split, in Message.Items order, into elements of ten: the first has action
// id "checklist", the k-th "checklist-k" (k ≥ 2) and holds items
// 10(k-1) … 10k-1. All of them sit in the one actions block whose block id is
// blockChecklistPrefix followed by the run id.
const (
	actionChecklist      = "checklist"  // the checkboxes element's action_id
	blockChecklistPrefix = "checklist:" // block_id = "checklist:<runID>"
	blockActionsPrefix   = "actions:"   // block_id of the buttons block = "actions:<runID>"
)

// Block Kit limits, in characters (Slack counts runes), and the
// ones we choose for readability.
const (
	renderMaxBlocks       = 50
	renderMaxSectionText  = 3000
	renderMaxFieldText    = 2000
	renderMaxFields       = 10 // fields per section
	renderMaxHeader       = 150
	renderMaxButtonText   = 75
	renderMaxOptionText   = 75
	renderMaxOptions      = 10 // options per checkboxes element
	renderMaxElements     = 25 // elements per actions block
	renderMaxConfirmText  = 300
	renderMaxContextText  = 3000
	renderMaxNotification = 3000 // our cap for the one-line fallback text
	renderMaxLogLine      = 300  // the failure context line
	renderMaxLogReply     = 3000
)

// renderEscaper escapes the three characters Slack's mrkdwn treats as
// control characters. Nothing else may be entity-encoded: Slack decodes
// only these.
var renderEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// renderBlocks renders a run message as Block Kit blocks.
//
// A message with a Status is a run's message: header, status and note,
// fields, checklist, buttons and, for a failed run, its last output line.
// A message without one is a notice: its text, with the title as context.
// Step output is not shown: the adapter posts it to the message's thread.
func renderBlocks(m runbook.Message) []slack.Block {
	if m.Status == "" {
		return renderNotice(m)
	}
	var head, fields, tail []slack.Block
	if title := renderOneLine(m.Title); title != "" {
		head = append(head, slack.NewHeaderBlock(renderPlain(renderCut(title, renderMaxHeader))))
	}
	head = append(head, slack.NewSectionBlock(renderMrkdwn(renderStatusText(m)), nil, nil))

	fields = renderFieldSections(m.Fields)
	tail = append(tail, renderChecklist(m)...)
	if b := renderButtons(m); b != nil {
		tail = append(tail, b)
	}
	if c := renderFailureContext(m); c != nil {
		tail = append(tail, c)
	}

	// Fields are the only part that can grow without bound in practice;
	// the checklist and buttons are what people act on, so fields give way.
	if budget := renderMaxBlocks - len(head) - len(tail); len(fields) > budget {
		fields = renderFieldSectionsWithin(m.Fields, budget)
	}
	blocks := make([]slack.Block, 0, len(head)+len(fields)+len(tail))
	blocks = append(blocks, head...)
	blocks = append(blocks, fields...)
	return append(blocks, tail...)
}

// renderText is the notification/fallback text of a message
// (chat.postMessage `text`), one line, e.g.
// "#12 demo v1.2 → production: awaiting approval". Slack reads this text as
// mrkdwn, so it is escaped like the blocks.
func renderText(m runbook.Message) string {
	rest := m.Status
	if rest == "" {
		rest = m.Text
	}
	s := renderOneLine(m.Title)
	if r := renderOneLine(rest); r != "" {
		if s != "" {
			s += ": "
		}
		s += r
	}
	if m.Status != "" {
		return renderEscCut(s, renderMaxNotification)
	}
	// A notice's mentions lead its notification, as they lead its text.
	ms := renderMentions(m)
	return ms + renderEscCut(s, renderMaxNotification-utf8.RuneCountInString(ms))
}

// renderLog renders new step output lines for a thread reply: a code block
// (``` … ```), cut to fit Slack's 3000-char text limit keeping the LAST
// lines, with "…" marking the cut. It returns "" when there are no lines.
// Output is escaped like any text (Slack decodes entities inside code
// blocks too), and a "```" inside a line gets a zero-width space so it
// cannot end the block early.
func renderLog(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	const open, closing, mark = "```\n", "\n```", "…\n"
	budget := renderMaxLogReply - utf8.RuneCountInString(open) - utf8.RuneCountInString(closing)
	escaped := make([]string, len(lines))
	total := -1 // n lines need n-1 newlines
	for i, l := range lines {
		escaped[i] = strings.ReplaceAll(renderEscaper.Replace(strings.TrimRight(l, "\r\n")), "```", "`\u200b``")
		total += utf8.RuneCountInString(escaped[i]) + 1
	}
	if total <= budget {
		return open + strings.Join(escaped, "\n") + closing
	}
	// Keep the last lines that fit beside the cut mark.
	room := budget - utf8.RuneCountInString(mark)
	used, from := -1, len(escaped)
	for from > 0 {
		n := utf8.RuneCountInString(escaped[from-1]) + 1
		if used+n > room {
			break
		}
		used += n
		from--
	}
	if from < len(escaped) {
		return open + mark + strings.Join(escaped[from:], "\n") + closing
	}
	// Even the last line alone is too long: keep its end, not starting
	// inside an entity such as "&amp;".
	last := []rune(escaped[len(escaped)-1])
	k := len(last) - room
	for j := k - 1; j >= 0 && j >= k-4; j-- {
		if last[j] == ';' {
			break
		}
		if last[j] == '&' {
			for k < len(last) && last[k-1] != ';' {
				k++
			}
			break
		}
	}
	return open + mark + string(last[k:]) + closing
}

// renderSummary is the one-line summary posted in the announce channel for
// production runs: e.g.
// ":rocket: #12 demo v1.2 → production — succeeded (requested by <@U0RM>)".
// The requester is not in Message: it is the "Requested by" field's value,
// shown as a mention when it is a Slack user id.
func renderSummary(m runbook.Message) string {
	emoji := renderEmoji(m)
	if m.State == runbook.StateSucceeded {
		emoji = ":rocket:"
	}
	status := m.Status
	if status == "" {
		status = m.Text
	}
	s := emoji + " " + renderEscCut(renderOneLine(m.Title), renderMaxHeader)
	if status = renderOneLine(status); status != "" {
		s += " — " + renderEscCut(status, renderMaxHeader)
	}
	for _, f := range m.Fields {
		if f.Label == "Requested by" && f.Value != "" {
			s += " (requested by " + renderUser(renderCut(renderOneLine(f.Value), renderMaxOptionText)) + ")"
			break
		}
	}
	return s
}

// renderNotice renders a one-off line about a run: its text, its title
// as context, and the buttons of a notice that asks for a decision.
func renderNotice(m runbook.Message) []slack.Block {
	text, title := strings.TrimSpace(m.Text), renderOneLine(m.Title)
	if text == "" {
		text, title = title, ""
	}
	if text == "" {
		return nil
	}
	ms := renderMentions(m)
	blocks := []slack.Block{slack.NewSectionBlock(renderMrkdwn(ms+renderEscCut(text, renderMaxSectionText-utf8.RuneCountInString(ms))), nil, nil)}
	if title != "" {
		blocks = append(blocks, slack.NewContextBlock("", renderMrkdwn(renderEscCut(title, renderMaxContextText))))
	}
	if b := renderButtons(m); b != nil {
		blocks = append(blocks, b)
	}
	return blocks
}

// renderStatusText is the status line (emoji and bold state) and, below
// it, the note.
func renderStatusText(m runbook.Message) string {
	s := renderEmoji(m) + " *" + renderEscCut(renderOneLine(m.Status), renderMaxHeader) + "*"
	if note := strings.TrimSpace(m.Text); note != "" || len(m.Mentions) > 0 {
		s += "\n" + renderMentions(m)
		s += renderEscCut(note, renderMaxSectionText-utf8.RuneCountInString(s))
	}
	return s
}

// renderEmoji picks the status emoji by state, falling back to the tone for
// states it does not know.
func renderEmoji(m runbook.Message) string {
	switch m.State {
	case runbook.StateRequested, runbook.StateAwaitingApproval:
		return ":hourglass_flowing_sand:"
	case runbook.StateChecklist:
		return ":clipboard:"
	case runbook.StateApproved:
		return ":thumbsup:"
	case runbook.StateDeploying:
		return ":rocket:"
	case runbook.StateVerifying:
		return ":mag:"
	case runbook.StateMonitoring:
		return ":eyes:"
	case runbook.StateSucceeded:
		return ":white_check_mark:"
	case runbook.StateRejected:
		return ":no_entry_sign:"
	case runbook.StateCancelled:
		return ":no_entry:"
	case runbook.StateExpired:
		return ":alarm_clock:"
	case runbook.StateFailed:
		return ":x:"
	case runbook.StateRollingBack:
		return ":rewind:"
	case runbook.StateRolledBack:
		return ":leftwards_arrow_with_hook:"
	case runbook.StateRollbackFailed:
		return ":rotating_light:"
	case runbook.StateInterrupted:
		return ":warning:"
	}
	switch m.Tone {
	case runbook.ToneSuccess:
		return ":white_check_mark:"
	case runbook.ToneFailure:
		return ":x:"
	case runbook.ToneWaiting:
		return ":hourglass_flowing_sand:"
	case runbook.ToneProgress:
		return ":arrows_counterclockwise:"
	}
	return ":information_source:"
}

// renderFieldSections lays the fields out ten to a section.
func renderFieldSections(fields []runbook.Field) []slack.Block {
	return renderFieldSectionsWithin(fields, len(fields))
}

// renderFieldSectionsWithin lays the fields out ten to a section, in at most
// at most sections sections; when they do not fit, the last field says how
// many more there were.
func renderFieldSectionsWithin(fields []runbook.Field, sections int) []slack.Block {
	var objs []*slack.TextBlockObject
	for _, f := range fields {
		if f.Label == "" && f.Value == "" {
			continue
		}
		objs = append(objs, renderMrkdwn(renderFieldText(f)))
	}
	if sections <= 0 {
		return nil
	}
	if room := sections * renderMaxFields; len(objs) > room {
		more := len(objs) - room + 1
		objs = append(objs[:room-1], renderMrkdwn("*…*\n"+strconv.Itoa(more)+" more fields not shown"))
	}
	var blocks []slack.Block
	for len(objs) > 0 {
		n := min(len(objs), renderMaxFields)
		blocks = append(blocks, slack.NewSectionBlock(nil, objs[:n], nil))
		objs = objs[n:]
	}
	return blocks
}

// renderFieldText is one field: its label in bold above its value.
func renderFieldText(f runbook.Field) string {
	label := ""
	if l := renderOneLine(f.Label); l != "" {
		label = "*" + renderEscCut(l, 100) + "*"
	}
	value := f.Value
	if f.Label == "Requested by" {
		value = renderUser(renderCut(renderOneLine(value), renderMaxOptionText))
	} else {
		value = renderEscCut(value, renderMaxFieldText-utf8.RuneCountInString(label)-1)
	}
	if value == "" || label == "" {
		return label + value
	}
	return label + "\n" + value
}

// renderButtons renders the run's buttons in one actions block. A button
// whose action is already there is left out: Slack wants action ids unique
// within a block, and a second button doing the same thing adds nothing.
func renderButtons(m runbook.Message) slack.Block {
	var elements []slack.BlockElement
	seen := map[runbook.ButtonAction]bool{}
	for _, btn := range m.Buttons {
		if seen[btn.Action] || btn.Action == "" || len(elements) == renderMaxElements {
			continue
		}
		seen[btn.Action] = true
		id := btn.RunID
		if id == 0 {
			id = m.RunID
		}
		label := renderOneLine(btn.Label)
		if label == "" {
			label = string(btn.Action)
		}
		value := strconv.FormatUint(id, 10)
		if btn.Value != "" {
			value += ":" + btn.Value
		}
		el := slack.NewButtonBlockElement(string(btn.Action), value, renderPlain(renderCut(label, renderMaxButtonText)))
		switch btn.Style {
		case runbook.StylePrimary:
			el.Style = slack.StylePrimary
		case runbook.StyleDanger:
			el.Style = slack.StyleDanger
		}
		if btn.Confirm != "" {
			el.Confirm = slack.NewConfirmationBlockObject(
				renderPlain("Are you sure?"),
				renderPlain(renderCut(btn.Confirm, renderMaxConfirmText)),
				renderPlain("Yes"),
				renderPlain("No"))
			if btn.Style == runbook.StyleDanger {
				el.Confirm.Style = slack.StyleDanger
			}
		}
		elements = append(elements, el)
	}
	if len(elements) == 0 {
		return nil
	}
	return slack.NewActionBlock(blockActionsPrefix+strconv.FormatUint(m.RunID, 10), elements...)
}

// renderFailureContext shows the last line of output of a run that failed,
// so the reason is visible without opening the thread.
func renderFailureContext(m runbook.Message) slack.Block {
	switch m.State {
	case runbook.StateFailed, runbook.StateRollbackFailed, runbook.StateInterrupted:
	default:
		return nil
	}
	for i := len(m.Log) - 1; i >= 0; i-- {
		if line := strings.TrimSpace(m.Log[i]); line != "" {
			return slack.NewContextBlock("", renderPlain("Last output: "+renderCut(line, renderMaxLogLine)))
		}
	}
	return nil
}

// renderPlain is a plain_text object with emoji shortcodes on. Slack shows
// plain text as given, so it is not escaped.
func renderPlain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// renderMrkdwn is a mrkdwn text object; s must already be escaped.
func renderMrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// renderOneLine folds s onto one line.
func renderOneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// renderCut shortens s to at most limit characters, ending it with "…" when
// it was cut.
func renderCut(s string, limit int) string {
	if limit <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:limit-1]), func(c rune) bool { return c == ' ' || c == '\n' }) + "…"
}

// renderEscCut escapes s for mrkdwn and shortens the result to at most
// limit characters without splitting an entity such as "&amp;".
func renderEscCut(s string, limit int) string {
	e := renderEscaper.Replace(s)
	if limit <= 0 {
		return ""
	}
	if utf8.RuneCountInString(e) <= limit {
		return e
	}
	r := []rune(e)
	cut := string(r[:limit-1])
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, func(c rune) bool { return c == ' ' || c == '\n' }) + "…"
}
