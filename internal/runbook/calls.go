package runbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The occasions on which Shipmate calls people about a run: its approvers
// when it starts waiting for them and again with the reminder, its
// requester when it is approved, rejected, fails or succeeds.
const (
	CallApprovers = "approvers"
	CallReminder  = "reminder"
	CallApproved  = "approved"
	CallRejected  = "rejected"
	CallFailed    = "failed"
	CallSucceeded = "succeeded"
)

// How a run waiting for approval calls its approvers
// (Environment.NotifyApprovers).
const (
	// NotifyMention mentions them in the run's thread (the default).
	NotifyMention = "mention"
	// NotifyDM sends each of them a direct message linking to the run's
	// message, on chats that have direct messages.
	NotifyDM = "dm"
)

// Call is one occasion on which Shipmate calls people about a run. It is
// stored with the change that calls for it, in the same write, so that no
// call is lost; the leading replica then claims it (a compare-and-save on
// the run's revision, so one replica makes it), makes it, and marks it
// done, so that it is made once across restarts and replicas. Only a bot
// stopped in the middle of a call leaves a claim behind: the next leader
// makes that call again, as its outcome is unknown.
type Call struct {
	Key string `json:"key"`
	// Text is what the occasion said when it came (the transition's
	// detail), as the run's note may have moved on by the time the call
	// is made.
	Text    string    `json:"text,omitempty"`
	Claimed time.Time `json:"claimed,omitzero"`
	Done    bool      `json:"done,omitempty"`
}

// callClaim is how long a claimed call is left to the process that
// claimed it before the leader makes it again: that process died during
// the call, or could not mark it done.
const callClaim = 2 * time.Minute

// newCalls are the calls that the events evs of a save of r call for, each
// occasion at most once per run. env is r's environment (nil: unknown).
func newCalls(r *Run, env *Environment, evs []Event) []Call {
	var out []Call
	add := func(key, text string) {
		has := func(c Call) bool { return c.Key == key }
		if !slices.ContainsFunc(r.Calls, has) && !slices.ContainsFunc(out, has) {
			out = append(out, Call{Key: key, Text: text})
		}
	}
	approval := r.Action == ActionDeploy && env != nil && env.Approval.Count > 0
	for _, ev := range evs {
		switch {
		case ev.Type == EvReminder:
			if approval {
				add(CallReminder, "")
			}
		case ev.Type != EvTransition:
		case ev.To == StateAwaitingApproval:
			if approval {
				add(CallApprovers, "")
			}
		case ev.To == StateApproved:
			if approval && ev.Actor != nil {
				add(CallApproved, ev.Detail)
			}
		case ev.To == StateRejected:
			add(CallRejected, ev.Detail)
		case ev.To == StateFailed, ev.To == StateRollbackFailed, ev.To == StateInterrupted:
			add(CallFailed, ev.Detail)
		case ev.To == StateSucceeded, ev.To == StateRolledBack && r.Action == ActionRollback:
			add(CallSucceeded, ev.Detail)
		}
	}
	return out
}

// claimable reports whether c is to be made now: not done, and not
// claimed, or claimed by a process that is gone (takeOver, at the start of
// a term) or that let the claim grow stale.
func claimable(c Call, now time.Time, takeOver bool) bool {
	return !c.Done && (c.Claimed.IsZero() || takeOver || now.Sub(c.Claimed) >= callClaim)
}

// callAside makes r's pending calls in the background, when this engine
// leads and the run's message is out: followers store the calls, and the
// leader makes them when it sees the change (Changed) or starts (Resume).
func (e *Engine) callAside(r *Run, takeOver bool) {
	if r.Origin.MessageRef == "" {
		// Calls go under the run's message, or link to it: they wait for
		// it (storing its reference saves the run, which comes back here).
		return
	}
	now := e.now()
	if !slices.ContainsFunc(r.Calls, func(c Call) bool { return claimable(c, now, takeOver) }) {
		return
	}
	id := r.ID
	e.aside(id, "calls", func(ctx context.Context) { e.makeCalls(ctx, id, takeOver) })
}

// makeCalls makes run id's pending calls, one at a time, in the order they
// came.
func (e *Engine) makeCalls(ctx context.Context, id uint64, takeOver bool) {
	for ctx.Err() == nil {
		var c Call
		r, err := e.change(ctx, id, false, func(r *Run) ([]Event, error) {
			now := e.now()
			i := slices.IndexFunc(r.Calls, func(c Call) bool { return claimable(c, now, takeOver) })
			if i < 0 {
				return nil, errMovedOn
			}
			r.Calls[i].Claimed = now
			c = r.Calls[i]
			return nil, nil
		})
		if err != nil {
			if !errors.Is(err, errMovedOn) && ctx.Err() == nil {
				e.log.Error().Err(err).Uint64("run", id).Msg("claim a call")
			}
			return
		}
		detail, callErr := e.makeCall(ctx, r, c)
		if ctx.Err() != nil {
			return // cut off: the next leader makes it again
		}
		e.callDone(ctx, id, c, detail, callErr)
	}
}

// callDone marks call c of run id made, with what it did for the audit
// trail, or why it could not be made: a chat that refuses a call after
// its retries is told in the trail and the log, and the call is not tried
// again.
func (e *Engine) callDone(ctx context.Context, id uint64, c Call, detail string, callErr error) {
	if callErr != nil {
		e.log.Warn().Err(callErr).Uint64("run", id).Str("call", c.Key).Msg("chat: call people about a run")
		detail = strings.TrimPrefix(fmt.Sprintf("%s; could not call (%s): %v", detail, c.Key, callErr), "; ")
	}
	_, err := e.change(ctx, id, false, func(r *Run) ([]Event, error) {
		i := slices.IndexFunc(r.Calls, func(x Call) bool { return x.Key == c.Key })
		if i < 0 || r.Calls[i].Done {
			return nil, errMovedOn
		}
		r.Calls[i].Done = true
		return []Event{e.event(EvCall, &Shipmate, detail)}, nil
	})
	if err != nil && !errors.Is(err, errMovedOn) && ctx.Err() == nil {
		e.log.Error().Err(err).Uint64("run", id).Str("call", c.Key).Msg("record a call")
	}
}

// makeCall makes call c about r and says what it did.
func (e *Engine) makeCall(ctx context.Context, r *Run, c Call) (string, error) {
	switch c.Key {
	case CallApprovers, CallReminder:
		return e.callApprovers(ctx, r, c)
	default:
		return e.callRequester(ctx, r, c)
	}
}

// callPost posts call m about r: in the run's thread when inThread is set
// and its chat has threads, else in its channel.
func (e *Engine) callPost(ctx context.Context, r *Run, m Message, inThread bool) error {
	chat, ok := e.chats[r.Origin.Platform]
	if !ok {
		return fmt.Errorf("no chat %q", r.Origin.Platform)
	}
	if th, ok := chat.(Threader); ok && inThread && r.Origin.MessageRef != "" {
		return th.Reply(ctx, r.Origin.Channel, r.Origin.MessageRef, m)
	}
	_, err := chat.Post(ctx, r.Origin.Channel, m)
	return err
}

// callRequester tells the requester how their run went, in a direct
// message. A chat without them (the console) shows the run's message to
// everyone in its channel, the requester too, as it changes: the trail
// says the requester was not told apart.
func (e *Engine) callRequester(ctx context.Context, r *Run, c Call) (string, error) {
	who := r.Requester.String()
	dm, ok := e.chats[r.Origin.Platform].(DirectMessenger)
	if !ok || r.Requester.Platform != r.Origin.Platform {
		return fmt.Sprintf("%s not told apart (%s): %s has no direct messages; the run's message shows it", who, c.Key, r.Origin.Platform), nil
	}
	verb := map[string]string{CallApproved: "was", CallRejected: "was", CallFailed: "failed:", CallSucceeded: "succeeded:"}[c.Key]
	m := noticeMessage(r, fmt.Sprintf("Your run %s (%s) %s %s", r.Ref(), r.Title(), verb, c.Text))
	m.Tone = ToneFailure
	if c.Key == CallApproved || c.Key == CallSucceeded {
		m.Tone = ToneSuccess
	}
	origin := r.Origin
	m.Related = &origin
	return fmt.Sprintf("told %s (%s) in a direct message", who, c.Key), dm.Direct(ctx, r.Requester.ID, m)
}

// resumeCalls makes, at the start of a term, the calls that finished runs
// of the apps and environments in pairs still owe: the last process
// stopped between storing a run's end and telling its requester. Only the
// newest runs of each app and environment can owe one.
func (e *Engine) resumeCalls(ctx context.Context, pairs [][2]string) error {
	for _, p := range pairs {
		runs, err := e.store.History(ctx, p[0], p[1], resumeCallsDepth)
		if err != nil {
			return fmt.Errorf("resume calls: %w", err)
		}
		for _, r := range runs {
			if r.State.Terminal() {
				e.callAside(r, true)
			}
		}
	}
	return nil
}

// appEnvs lists every app in every environment of the policy, as pairs.
func (e *Engine) appEnvs() [][2]string {
	var out [][2]string
	for _, app := range e.policy.AppNames() {
		for _, env := range e.policy.Envs {
			out = append(out, [2]string{app, env.Name})
		}
	}
	return out
}

// resumeCallsDepth is how many of the newest runs of each app and
// environment resumeCalls looks at: a run's calls are made within seconds
// of its end, and one run of an app and environment is active at a time.
const resumeCallsDepth = 3
