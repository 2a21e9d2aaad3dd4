package runbook

import (
	"context"
	"fmt"
	"strings"
)

// IncidentRecord writes the incident record of rollback run id as
// Markdown: what was rolled back, the procedure with who did each step and
// when, and the timeline of every event of the rollback and of the run it
// rolled back, from the audit trail.
func IncidentRecord(ctx context.Context, s Store, id uint64) (string, error) {
	rb, err := ReadRecord(ctx, s, id)
	if err != nil {
		return "", err
	}
	var orig *Record
	if rb.Run.RollbackOf != 0 {
		if orig, err = ReadRecord(ctx, s, rb.Run.RollbackOf); err != nil && err != ErrRunNotFound {
			return "", err
		}
	}
	return IncidentMarkdown(rb, orig)
}

// IncidentMarkdown writes the incident record of rollback rb, which
// rolled back orig (nil when unknown), as Markdown.
func IncidentMarkdown(rb, orig *Record) (string, error) {
	r := rb.Run
	if r.Action != ActionRollback {
		return "", Errorf(EInvalid, "run %s is a deployment, not a rollback: incident records are written for rollbacks", r.Ref())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Incident record: rollback %s of %s in %s\n\n", r.Ref(), r.App, r.Env)
	fmt.Fprintf(&b, "- **Rolled back:** %s → %s\n", orNone(r.PreviousVersion), r.Version)
	fmt.Fprintf(&b, "- **Requested by:** %s at %s\n", r.Requester, fmtTime(r.CreatedAt))
	if r.Reason != "" {
		fmt.Fprintf(&b, "- **Reason:** %s\n", r.Reason)
	}
	if orig != nil {
		fmt.Fprintf(&b, "- **Rolled back run:** %s %s, requested by %s (%s)\n", orig.Run.Ref(), orig.Run.Title(), orig.Run.Requester, orig.Run.State.Label())
	}
	fmt.Fprintf(&b, "- **State:** %s\n", r.State.Label())
	if len(r.Procedure) > 0 {
		b.WriteString("\n## Rollback procedure\n\n")
		for i, it := range r.Procedure {
			mark := " "
			if it.Done {
				mark = "x"
			}
			fmt.Fprintf(&b, "%d. [%s] %s", i+1, mark, it.Label)
			if it.By != nil {
				fmt.Fprintf(&b, " — %s, %s", it.By, fmtTime(it.At))
			}
			if it.Detail != "" {
				fmt.Fprintf(&b, " (%s)", oneLine(it.Detail))
			} else if it.Key == ProcDocument && !it.Done {
				b.WriteString(" (this record)")
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n## Timeline\n\n| time (UTC) | run | who | what |\n|---|---|---|---|\n")
	var evs []timed
	if orig != nil {
		for _, ev := range orig.Events {
			evs = append(evs, timed{orig.Run, ev})
		}
	}
	for _, ev := range rb.Events {
		evs = append(evs, timed{r, ev})
	}
	sortTimed(evs)
	for _, t := range evs {
		who := "Shipmate"
		if t.ev.Actor != nil {
			who = t.ev.Actor.String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.ev.At.UTC().Format("2006-01-02 15:04:05"), t.run.Ref(), cell(who), cell(eventText(t.ev)))
	}
	if len(r.Log) > 0 {
		b.WriteString("\n## Last step output\n\n```\n" + strings.Join(r.Log, "\n") + "\n```\n")
	}
	return b.String(), nil
}

// timed is an event with the run it belongs to, for the merged timeline.
type timed struct {
	run *Run
	ev  Event
}

// sortTimed orders the timeline by time, keeping each run's own order.
func sortTimed(evs []timed) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].ev.At.Before(evs[j-1].ev.At); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}

// eventText says what an event of the audit trail was.
func eventText(ev Event) string {
	switch ev.Type {
	case EvTransition:
		s := fmt.Sprintf("%s → %s", ev.From.Label(), ev.To.Label())
		if ev.Detail != "" {
			s += ": " + ev.Detail
		}
		return s
	case EvOutput:
		return "output: " + ev.Detail
	}
	if ev.Detail == "" {
		return ev.Type
	}
	return ev.Detail
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = oneLine(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// procDocument ends the procedure and then writes the incident record and
// posts it in the run's thread (as a notice where the chat has no
// threads): recorded first, so that the record posted is the whole of it,
// its last item and the run's end included.
func (e *Engine) procDocument(ctx context.Context, r *Run) (bool, error) {
	th, threaded := e.chats[r.Origin.Platform].(Threader)
	threaded = threaded && r.Origin.MessageRef != ""
	where := "posted as a notice"
	if threaded {
		where = "posted in the run's thread"
	}
	_, err := e.update(ctx, r.ID, func(r *Run) ([]Event, error) {
		it := procItem(r, ProcDocument)
		if r.State != StateProcedure || it == nil || it.Done {
			return nil, errMovedOn
		}
		it.Done, it.By, it.At = true, &Shipmate, e.now()
		it.Detail = fmt.Sprintf("incident record %s (bot export --incident %d)", where, r.ID)
		return []Event{
			e.event(EvTick, &Shipmate, fmt.Sprintf("%q: %s (rollback procedure)", it.Label, it.Detail)),
			e.move(r, StateRolledBack, nil, fmt.Sprintf("rolled back to %s; rollback procedure complete", r.Version)),
		}, nil
	})
	if err != nil {
		return e.movedOn(err)
	}
	md, err := IncidentRecord(ctx, e.store, r.ID)
	if err != nil {
		return false, err
	}
	m := Message{RunID: r.ID, App: r.App, Env: r.Env, Version: r.Version, Title: "Incident record: " + r.Ref() + " " + r.Title(), Tone: ToneInfo, Text: md}
	if threaded {
		err = th.Reply(ctx, r.Origin.Channel, r.Origin.MessageRef, m)
	} else if chat, ok := e.chats[r.Origin.Platform]; ok {
		_, err = chat.Post(ctx, r.Origin.Channel, m)
	}
	if err != nil {
		e.log.Warn().Err(err).Uint64("run", r.ID).Msg("chat: post the incident record (bot export --incident has it)")
	}
	return false, nil
}
