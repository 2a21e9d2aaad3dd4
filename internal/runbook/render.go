package runbook

import (
	"fmt"
	"strings"
)

// Message renders run r as the platform-neutral message its chat shows.
func (e *Engine) Message(r *Run) Message {
	m := Message{RunID: r.ID, App: r.App, Env: r.Env, Version: r.Version, Title: r.Ref() + " " + r.Title(),
		State: r.State, Status: r.State.Label(), Text: r.Note, Tone: tone(r.State), Log: r.Log}
	env, _ := e.policy.Env(r.Env)
	m.Fields = fields(r, env)
	if f, ok := e.analysisField(r); ok {
		m.Fields = append(m.Fields, f)
	}
	editable := r.State == StateChecklist || r.State == StateAwaitingApproval
	items := r.Checklist
	m.ItemsTitle = "Pre-deployment checklist"
	if len(r.Validation) > 0 && !r.MonitorUntil.IsZero() {
		// From monitoring on, the validation is the list that matters:
		// confirmed while monitored, then shown as it ended.
		items, m.ItemsTitle, editable = r.Validation, "Post-deployment validation", r.State == StateMonitoring
	}
	next := ""
	if len(r.Procedure) > 0 {
		// Only the item whose turn it is can be ticked.
		items, m.ItemsTitle, editable = r.Procedure, "Rollback procedure", r.State == StateProcedure
		if i := nextProcItem(r); i >= 0 {
			next = r.Procedure[i].Key
		}
	}
	for _, it := range items {
		ok := editable && !it.Auto && (next == "" || it.Key == next)
		item := Item{Key: it.Key, Label: it.Label, Done: it.Done, Editable: ok, At: it.At,
			Auto: it.Auto, Detail: it.Detail, Link: it.Link}
		if it.By != nil {
			item.By = it.By.String()
		}
		m.Items = append(m.Items, item)
	}
	m.Buttons = buttons(r)
	return m
}

// fields are what a run's message says about it beside its status.
func fields(r *Run, env *Environment) []Field {
	var fs []Field
	fs = append(fs, Field{Label: "Requested by", Value: r.Requester.String()})
	prev := r.PreviousVersion
	if prev == "" {
		prev = "nothing yet"
	}
	if r.Action == ActionRollback {
		fs = append(fs, Field{Label: "Rolling back from", Value: prev})
	} else {
		fs = append(fs, Field{Label: "Running before", Value: prev})
	}
	if r.Artifact != "" && r.Artifact != r.Version {
		fs = append(fs, Field{Label: "Artifact", Value: r.Artifact})
	}
	if env != nil && env.Approval.Count > 0 && r.Action == ActionDeploy {
		v := fmt.Sprintf("%d of %d (%s", len(r.Approvals), env.Approval.Count, roleList(env.Approval.Roles))
		if !env.Approval.AllowSelf {
			v += ", not the requester"
		}
		v += ")"
		if len(r.Approvals) > 0 {
			v += ": " + approvers(r)
		}
		fs = append(fs, Field{Label: "Approvals", Value: v})
	}
	if r.Reason != "" {
		fs = append(fs, Field{Label: "Reason", Value: r.Reason})
	}
	if r.Emergency {
		fs = append(fs, Field{Label: "Emergency", Value: "outside the deployment window (break-glass, audited)"})
	}
	switch r.State {
	case StateChecklist, StateAwaitingApproval:
		fs = append(fs, Field{Label: "Expires", Value: fmtTime(r.ExpiresAt)})
	case StateMonitoring:
		if r.AwaitingValidation {
			fs = append(fs, Field{Label: "Monitoring", Value: "window over; waiting for the post-deployment validation"})
		} else {
			fs = append(fs, Field{Label: "Monitoring until", Value: fmtTime(r.MonitorUntil)})
		}
	}
	if len(r.Validation) > 0 && r.Action == ActionDeploy {
		fs = append(fs, Field{Label: "Validation", Value: fmt.Sprintf("%d of %d confirmed",
			len(r.Validation)-len(r.OpenValidation()), len(r.Validation))})
	}
	return fs
}

// buttons are what people can do on a run's message now.
func buttons(r *Run) []Button {
	var bs []Button
	btn := func(a ButtonAction, label string, style ButtonStyle, confirm string) {
		bs = append(bs, Button{Action: a, Label: label, Style: style, RunID: r.ID, Confirm: confirm})
	}
	from, to := rollbackPair(r)
	rollback := func() {
		if to != "" && executed(r) {
			btn(ButtonRollback, "Roll back", StyleDanger, fmt.Sprintf("Roll %s in %s back from %s to %s?", r.App, r.Env, from, to))
		}
	}
	switch r.State {
	case StateChecklist, StateAwaitingApproval:
		// Approve shows while the checklist is open too: pressing it then
		// says what is missing.
		btn(ButtonApprove, "Approve", StylePrimary, "")
		bs[len(bs)-1].Value = approvalView(r)
		btn(ButtonReject, "Reject", StyleDanger, fmt.Sprintf("Reject %s?", r.Title()))
		btn(ButtonCancel, "Cancel", StyleDefault, "")
	case StateRequested, StateApproved, StateProcedure:
		if r.State != StateProcedure || !procItem(r, ProcRollback).Done {
			btn(ButtonCancel, "Cancel", StyleDefault, "")
		}
	case StateDeploying, StateVerifying:
		btn(ButtonCancel, "Stop", StyleDanger, "Stop this deployment and roll back?")
	case StateMonitoring:
		rollback()
		btn(ButtonCancel, "End monitoring", StyleDefault, "")
	case StateSucceeded, StateFailed, StateInterrupted, StateRollbackFailed:
		rollback()
	}
	return bs
}

func tone(s State) Tone {
	switch s {
	case StateSucceeded:
		return ToneSuccess
	case StateRolledBack:
		return ToneFailure
	case StateChecklist, StateAwaitingApproval, StateApproved, StateRequested, StateProcedure:
		return ToneWaiting
	case StateDeploying, StateVerifying, StateMonitoring, StateRollingBack:
		return ToneProgress
	case StateFailed, StateRollbackFailed, StateInterrupted, StateExpired, StateRejected:
		return ToneFailure
	}
	return ToneInfo
}

// PlainText renders a message as plain text, for logs and simple chats.
func (m Message) PlainText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n", m.Title, m.Status)
	if m.Text != "" {
		b.WriteString(m.Text + "\n")
	}
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "%s: %s\n", f.Label, f.Value)
	}
	for _, it := range m.Items {
		box := "☐"
		if it.Done {
			box = "☑"
		}
		fmt.Fprintf(&b, "%s %s\n", box, it.Label)
	}
	return strings.TrimSpace(b.String())
}
