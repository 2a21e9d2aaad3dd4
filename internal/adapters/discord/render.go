package discord

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"shipmate/internal/runbook"
)

// Discord's limits on what one message carries.
const (
	maxTitle       = 256
	maxDescription = 4096
	maxFieldName   = 256
	maxFieldValue  = 1024
	maxFields      = 25
	maxOptions     = 25
	maxOptionText  = 100
	maxButtons     = 5
	maxContent     = 2000
)

// Custom ids. The checklist select is "checklist:<runID>"; buttons are
// "<action>:<runID>", or "ask:<action>:<runID>" when they ask first, whose
// question has "yes:<action>:<runID>" and "no:<runID>".
const (
	customChecklist = "checklist"
	customAsk       = "ask"
	customYes       = "yes"
	customNo        = "no"
)

// Embed colours by tone.
var toneColors = map[runbook.Tone]int{
	runbook.ToneInfo:     0x5865F2,
	runbook.ToneWaiting:  0xFEE75C,
	runbook.ToneProgress: 0x3498DB,
	runbook.ToneSuccess:  0x57F287,
	runbook.ToneFailure:  0xED4245,
}

// rendered is a message as Discord shows it: a run's message, a note or a
// summary (embeds and components), or output (content).
type rendered struct {
	Embeds     []*discordgo.MessageEmbed
	Components []discordgo.MessageComponent
	Content    string `json:",omitempty"`
	// Nonce makes a repeated post of the run's message return the first.
	Nonce string `json:",omitempty"`
	// Allowed is who the message may ping (its mentions in Content);
	// nil pings no one.
	Allowed *discordgo.MessageAllowedMentions `json:",omitempty"`
}

// render turns m into one embed and its components: a multi-select of the
// checklist's manual items while any item can be ticked, and the buttons.
func render(m runbook.Message) rendered {
	e := &discordgo.MessageEmbed{
		Title: clip(m.Title, maxTitle),
		Color: toneColors[m.Tone],
	}
	var desc []string
	if m.Status != "" {
		desc = append(desc, "**"+m.Status+"**")
	}
	if m.Text != "" {
		desc = append(desc, escapeMarkdown(m.Text))
	}
	e.Description = clip(strings.Join(desc, "\n"), maxDescription)
	for _, f := range m.Fields {
		if len(e.Fields) == maxFields-1 {
			break // keep room for the checklist
		}
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{
			Name: clip(orDash(f.Label), maxFieldName), Value: clip(orDash(escapeMarkdown(f.Value)), maxFieldValue), Inline: true})
	}
	if len(m.Items) > 0 {
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{
			Name: clip(orDefault(m.ItemsTitle, "Checklist"), maxFieldName), Value: clip(checklistText(m.Items), maxFieldValue)})
	}
	out := rendered{Embeds: []*discordgo.MessageEmbed{e}, Nonce: m.PostKey}
	if len(m.Mentions) > 0 {
		out.Content, out.Allowed = mentions(m)
	}
	if sel := checklistSelect(m); sel != nil {
		out.Components = append(out.Components, discordgo.ActionsRow{Components: []discordgo.MessageComponent{*sel}})
	}
	var buttons []discordgo.MessageComponent
	for _, b := range m.Buttons {
		if len(buttons) == maxButtons {
			break
		}
		id := b.RunID
		if id == 0 {
			id = m.RunID
		}
		custom := string(b.Action) + ":" + strconv.FormatUint(id, 10)
		if b.Value != "" {
			custom += ":" + b.Value
		}
		if b.Confirm != "" {
			custom = customAsk + ":" + custom
		}
		buttons = append(buttons, discordgo.Button{Label: clip(b.Label, 80), Style: buttonStyle(b), CustomID: custom})
	}
	if len(buttons) > 0 {
		out.Components = append(out.Components, discordgo.ActionsRow{Components: buttons})
	}
	return out
}

// renderSummary is a run's line in the announce channel: an embed with the
// title, its state and who asked, e.g. "🚀 #12 demo v1.2 → production" /
// "**Succeeded** · requested by Ana". No controls: people act on the run's
// own message.
func renderSummary(m runbook.Message) rendered {
	mark := ""
	switch m.Tone {
	case runbook.ToneSuccess:
		mark = "🚀 "
	case runbook.ToneFailure:
		mark = "❌ "
	case runbook.ToneWaiting:
		mark = "⏳ "
	case runbook.ToneProgress:
		mark = "🔄 "
	}
	desc := m.Status
	if desc == "" {
		desc = escapeMarkdown(m.Text)
	}
	if desc != "" {
		desc = "**" + oneLine(desc) + "**"
	}
	for _, f := range m.Fields {
		if f.Label == "Requested by" && f.Value != "" {
			desc += " · requested by " + escapeMarkdown(oneLine(f.Value))
			break
		}
	}
	e := &discordgo.MessageEmbed{Title: clip(mark+oneLine(m.Title), maxTitle), Color: toneColors[m.Tone],
		Description: clip(desc, maxDescription)}
	return rendered{Embeds: []*discordgo.MessageEmbed{e}, Components: []discordgo.MessageComponent{}}
}

// oneLine folds s onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// checklistText lists every item, ticked or not; automated ones with what
// Shipmate found.
func checklistText(items []runbook.Item) string {
	var b strings.Builder
	for _, it := range items {
		mark := "⬜"
		if it.Done {
			mark = "✅"
		}
		fmt.Fprintf(&b, "%s %s", mark, it.Label)
		switch {
		case it.Auto:
			b.WriteString(" _(checked by Shipmate")
			if it.Detail != "" {
				b.WriteString(": " + it.Detail)
			}
			b.WriteString(")_")
			if it.Link != "" {
				b.WriteString(" " + it.Link)
			}
		case it.Done && it.By != "":
			b.WriteString(" — " + it.By)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// checklistSelect is the multi-select of the manual items people may tick,
// each selected by default when done; nil when none can be.
func checklistSelect(m runbook.Message) *discordgo.SelectMenu {
	var opts []discordgo.SelectMenuOption
	for _, it := range m.Items {
		if it.Auto || !it.Editable || len(opts) == maxOptions {
			continue
		}
		opts = append(opts, discordgo.SelectMenuOption{
			Label: clip(it.Label, maxOptionText), Value: clip(it.Key, maxOptionText), Default: it.Done})
	}
	if len(opts) == 0 {
		return nil
	}
	zero := 0
	return &discordgo.SelectMenu{
		CustomID:    customChecklist + ":" + strconv.FormatUint(m.RunID, 10),
		Placeholder: clip(orDefault(m.ItemsTitle, "Checklist")+": tick what is done", 150),
		MinValues:   &zero, MaxValues: len(opts), Options: opts,
	}
}

func buttonStyle(b runbook.Button) discordgo.ButtonStyle {
	switch b.Action {
	case runbook.ButtonApprove:
		return discordgo.SuccessButton
	case runbook.ButtonReject, runbook.ButtonRollback:
		return discordgo.DangerButton
	case runbook.ButtonCancel:
		return discordgo.SecondaryButton
	}
	switch b.Style {
	case runbook.StylePrimary:
		return discordgo.PrimaryButton
	case runbook.StyleDanger:
		return discordgo.DangerButton
	}
	return discordgo.SecondaryButton
}

// shownDefaults returns the options the checklist select customID showed
// selected in the clicked message, or nil when the message does not carry
// that select.
func shownDefaults(msg *discordgo.Message, customID string) map[string]bool {
	if msg == nil {
		return nil
	}
	for _, c := range msg.Components {
		row, ok := c.(*discordgo.ActionsRow)
		if !ok {
			continue
		}
		for _, el := range row.Components {
			sel, ok := el.(*discordgo.SelectMenu)
			if !ok || sel.CustomID != customID {
				continue
			}
			shown := map[string]bool{}
			for _, o := range sel.Options {
				shown[o.Value] = o.Default
			}
			return shown
		}
	}
	return nil
}

// logReply renders the first reply of output lines: a code block of at
// most maxContent characters (a line longer than that is cut), after a
// line saying how many were skipped. It returns how many of lines it
// holds.
func logReply(lines []string, skipped int) (string, int) {
	var b strings.Builder
	if skipped > 0 {
		fmt.Fprintf(&b, "(%d lines skipped)\n", skipped)
	}
	budget := maxContent - 8
	n := 0
	for _, l := range lines {
		l = strings.ReplaceAll(clip(l, budget-1), "```", "'''")
		if b.Len() > 0 && b.Len()+len(l)+1 > budget {
			break
		}
		b.WriteString(l + "\n")
		n++
	}
	return "```\n" + b.String() + "```", n
}

// markdownEscaper keeps text people typed (a reason, a note quoting one)
// from being read as Discord markdown: a masked link [text](url), a
// mention <@id>, emphasis or a quote.
var markdownEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "~", `\~`, "`", "\\`",
	"|", `\|`, ">", `\>`, "<", `\<`, "[", `\[`, "]", `\]`)

// escapeMarkdown escapes s for Discord, as Slack's renderer escapes its
// mrkdwn: the same text shows the same on every platform.
func escapeMarkdown(s string) string { return markdownEscaper.Replace(s) }

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}

// orDefault is s, or def when s is blank.
func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

// noMentions keeps messages from pinging anyone (a user may type
// @everyone into a reason).
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}
