package slack

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// renderChecklist renders the checklist: a heading, then checkboxes when
// people may tick items, or a read-only list when they may not.
func renderChecklist(m runbook.Message) []slack.Block {
	if len(m.Items) == 0 {
		return nil
	}
	title := m.ItemsTitle
	if title == "" {
		title = "Pre-deployment checklist"
	}
	blocks := []slack.Block{slack.NewSectionBlock(renderMrkdwn("*"+renderEscCut(renderOneLine(title), renderMaxHeader)+"*"), nil, nil)}
	// Items Shipmate checks itself are no checkboxes: people cannot tick
	// them. They show the check's finding and its link instead.
	var manual, auto []runbook.Item
	for _, it := range m.Items {
		if it.Auto {
			auto = append(auto, it)
		} else {
			manual = append(manual, it)
		}
	}
	if len(auto) > 0 {
		// Monitored, or midway through the rollback procedure, Shipmate
		// has not come to its items yet: they wait rather than fail.
		pending := m.State == runbook.StateMonitoring || m.State == runbook.StateProcedure || m.State == runbook.StateRollingBack
		blocks = append(blocks, renderAutoChecks(auto, pending))
	}
	editable := false
	for _, it := range manual {
		editable = editable || it.Editable
	}
	if len(manual) == 0 {
		return blocks
	}
	if !editable {
		return append(blocks, renderChecklistList(manual))
	}
	var elements []slack.BlockElement
	for i := 0; i < len(manual) && len(elements) < renderMaxElements; i += renderMaxOptions {
		chunk := manual[i:min(i+renderMaxOptions, len(manual))]
		actionID := actionChecklist
		if k := len(elements) + 1; k > 1 {
			actionID += "-" + strconv.Itoa(k)
		}
		el := slack.NewCheckboxGroupsBlockElement(actionID)
		for _, it := range chunk {
			opt := renderChecklistOption(it)
			el.Options = append(el.Options, opt)
			if it.Done {
				el.InitialOptions = append(el.InitialOptions, opt)
			}
		}
		elements = append(elements, el)
	}
	blocks = append(blocks, slack.NewActionBlock(blockChecklistPrefix+strconv.FormatUint(m.RunID, 10), elements...))
	if shown := renderMaxElements * renderMaxOptions; len(manual) > shown {
		// 250 items: far beyond any real checklist, but never an invalid message.
		blocks = append(blocks, slack.NewContextBlock("", renderMrkdwn(strconv.Itoa(len(manual)-shown)+" more items are not shown here.")))
	}
	return blocks
}

// renderAutoChecks lists the items Shipmate checks, with what it found.
// While pending (a run monitored, whose analysis has not decided on the
// items it has not confirmed yet), open items wait rather than fail.
func renderAutoChecks(items []runbook.Item, pending bool) slack.Block {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString("\n")
		}
		mark := ":x:"
		switch {
		case it.Done:
			mark = ":white_check_mark:"
		case pending:
			mark = ":hourglass_flowing_sand:"
		}
		line := mark + " " + renderEscaper.Replace(renderOneLine(it.Label)) + " — _checked by Shipmate_"
		if it.Detail != "" {
			line += ": " + renderEscaper.Replace(renderOneLine(it.Detail))
		}
		if it.Link != "" && !strings.ContainsAny(it.Link, "<>|") {
			line += " <" + it.Link + "|view>"
		}
		b.WriteString(line)
	}
	return slack.NewSectionBlock(renderMrkdwn(renderCut(b.String(), renderMaxSectionText)), nil, nil)
}

// renderChecklistOption is one checkbox: the item's label, and who ticked it
// and when.
func renderChecklistOption(it runbook.Item) *slack.OptionBlockObject {
	var desc *slack.TextBlockObject
	if it.Done {
		desc = renderMrkdwn(renderTicked(it, renderMaxOptionText))
	}
	label := renderOneLine(it.Label)
	if label == "" {
		label = it.Key
	}
	return slack.NewOptionBlockObject(it.Key, renderPlain(renderCut(label, renderMaxOptionText)), desc)
}

// renderTicked says who ticked an item and when, in at most limit
// characters: "✓ by alice at 14:05 UTC".
func renderTicked(it runbook.Item, limit int) string {
	at := ""
	if !it.At.IsZero() {
		at = " at " + it.At.UTC().Format("15:04") + " UTC"
	}
	if it.By == "" {
		if at == "" {
			return "✓ done"
		}
		return "✓ done" + at
	}
	const by = "✓ by "
	room := limit - utf8.RuneCountInString(by) - utf8.RuneCountInString(at)
	return by + renderUser(renderCut(renderOneLine(it.By), room)) + at
}

// renderChecklistList is the checklist as a read-only list, for runs whose
// checklist is closed.
func renderChecklistList(items []runbook.Item) slack.Block {
	var b strings.Builder
	n := 0 // characters written
	for i, it := range items {
		line := "☐ " + renderEscCut(renderOneLine(it.Label), renderMaxOptionText)
		if it.Done {
			line = "☑ " + renderEscCut(renderOneLine(it.Label), renderMaxOptionText) + " — " + strings.TrimPrefix(renderTicked(it, renderMaxOptionText), "✓ ")
		}
		// Leave room for the line saying how many more there are.
		if n > 0 && n+1+utf8.RuneCountInString(line) > renderMaxSectionText-40 {
			b.WriteString("\n… and " + strconv.Itoa(len(items)-i) + " more")
			break
		}
		if n > 0 {
			b.WriteByte('\n')
			n++
		}
		b.WriteString(line)
		n += utf8.RuneCountInString(line)
	}
	return slack.NewSectionBlock(renderMrkdwn(b.String()), nil, nil)
}

// checklist turns a checkboxes element's selection (Slack sends every
// selected option of the element on each tick and untick) into ticks and
// unticks of the items that element shows, judged against what the
// clicked message showed (shown).
func (a *Adapter) checklist(ctx context.Context, u runbook.User, act *slack.BlockAction, shown map[string]bool) error {
	id, err := strconv.ParseUint(strings.TrimPrefix(act.BlockID, blockChecklistPrefix), 10, 64)
	if err != nil {
		return runbook.Errorf(runbook.EInvalid, "this checklist does not name a run")
	}
	selected := make([]string, len(act.SelectedOptions))
	for i, o := range act.SelectedOptions {
		selected[i] = o.Value
	}
	element := func(items []runbook.CheckItem) []runbook.CheckItem { return checklistElementItems(items, act.ActionID) }
	return a.h.Tick(ctx, u, id, element, selected, shown)
}

// shownTicks returns the options a checkboxes element showed ticked in the
// message the user clicked, or nil when the payload does not carry it.
func shownTicks(blocks slack.Blocks, blockID, actionID string) map[string]bool {
	for _, b := range blocks.BlockSet {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.BlockID != blockID || ab.Elements == nil {
			continue
		}
		for _, el := range ab.Elements.ElementSet {
			cb, ok := el.(*slack.CheckboxGroupsBlockElement)
			if !ok || cb.ActionID != actionID {
				continue
			}
			ticked := map[string]bool{}
			for _, o := range cb.InitialOptions {
				ticked[o.Value] = true
			}
			return ticked
		}
	}
	return nil
}

// checklistElementItems returns the items one checkboxes element holds:
// Slack allows ten options per element, so the checklist is split into
// elements "checklist", "checklist-2", ... of ten items each.
func checklistElementItems(all []runbook.CheckItem, actionID string) []runbook.CheckItem {
	// Automated items are not checkboxes (see renderChecklist).
	var items []runbook.CheckItem
	for _, it := range all {
		if !it.Auto {
			items = append(items, it)
		}
	}
	n := 1
	if rest, ok := strings.CutPrefix(actionID, actionChecklist+"-"); ok {
		if k, err := strconv.Atoi(rest); err == nil && k > 1 {
			n = k
		}
	}
	from := (n - 1) * 10
	if from >= len(items) {
		return nil
	}
	return items[from:min(from+10, len(items))]
}
