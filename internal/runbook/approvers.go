package runbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// callApprovers calls the approvers of r, which waits for them (c is the
// first call or the reminder): by mentions in the run's thread (the
// reminder in its channel), or with notify_approvers: dm by a direct
// message to each of them that the run's chat can reach.
func (e *Engine) callApprovers(ctx context.Context, r *Run, c Call) (string, error) {
	env, ok := e.policy.Env(r.Env)
	if !ok {
		return "", fmt.Errorf("unknown environment %q", r.Env)
	}
	if r.State != StateChecklist && r.State != StateAwaitingApproval {
		return fmt.Sprintf("approvers not called (%s): the run is %s", c.Key, r.State.Label()), nil
	}
	ms, names := e.approverMentions(r, env)
	m := noticeMessage(r, approversText(r, env, c.Key, names))
	m.Tone = ToneWaiting
	if env.NotifyApprovers == NotifyDM {
		if dm, ok := e.chats[r.Origin.Platform].(DirectMessenger); ok {
			return e.directApprovers(ctx, r, env, dm, m, ms)
		}
		e.log.Info().Uint64("run", r.ID).Str("platform", r.Origin.Platform).
			Msg("notify_approvers: dm, and this chat has no direct messages: the approvers are mentioned instead")
	}
	m.Mentions = ms
	err := e.callPost(ctx, r, m, c.Key == CallApprovers)
	return fmt.Sprintf("called the approvers (%s): %s", c.Key, commandersText(ms, names)), err
}

// approverMentions are the approvers of r as its chat can call on them,
// without the requester where they may not approve their own run.
func (e *Engine) approverMentions(r *Run, env *Environment) ([]Mention, []string) {
	skip := func(m Mention) bool {
		return !m.Group && !env.Approval.AllowSelf && e.same(User{Platform: m.Platform, ID: m.ID}, r.Requester)
	}
	ms, names := e.roleMentions(env.Approval.Roles, r.Origin.Platform, skip)
	if !env.Approval.AllowSelf {
		names = slices.DeleteFunc(names, func(n string) bool { return n == r.Requester.Person })
	}
	return ms, names
}

// approversText is what the call of r's approvers says; names are
// approvers the chat cannot mention.
func approversText(r *Run, env *Environment, key string, names []string) string {
	who := roleList(env.Approval.Roles)
	if len(names) > 0 {
		who += " (" + joinAnd(names) + ")"
	}
	what := "approval"
	if r.State == StateChecklist {
		what = fmt.Sprintf("its checklist (%d open) and approval", len(r.OpenItems()))
	}
	if key == CallReminder {
		return fmt.Sprintf("Reminder: run %s (%s, requested by %s) still needs %s by %s. It expires at %s.",
			r.Ref(), r.Title(), r.Requester, what, who, fmtTime(r.ExpiresAt))
	}
	return fmt.Sprintf("Run %s (%s, requested by %s) needs %s by %s (%d of %d): approve or reject it on the run's message. It expires at %s.",
		r.Ref(), r.Title(), r.Requester, what, who, len(r.Approvals), env.Approval.Count, fmtTime(r.ExpiresAt))
}

// directApprovers sends m to each approver in ms the chat can reach
// directly: users, and the members of groups the platform can list. A
// group it cannot list, and everyone when no one could be reached, is
// mentioned in the run's thread instead.
func (e *Engine) directApprovers(ctx context.Context, r *Run, env *Environment, dm DirectMessenger, m Message, ms []Mention) (string, error) {
	var users []string
	var unlisted []Mention
	for _, mn := range ms {
		if !mn.Group {
			users = append(users, mn.ID)
			continue
		}
		ids, err := e.groupMembers(ctx, mn)
		if err != nil {
			e.log.Warn().Err(err).Str("group", mn.ID).Msg("list a group's members for direct messages: mentioning it instead")
			unlisted = append(unlisted, mn)
			continue
		}
		for _, id := range ids {
			if env.Approval.AllowSelf || !e.same(User{Platform: mn.Platform, ID: id}, r.Requester) {
				users = append(users, id)
			}
		}
	}
	users = uniq(users)
	if len(users) == 0 {
		unlisted = ms
	}
	origin := r.Origin
	dmsg := m
	dmsg.Related = &origin
	var errs []error
	for _, id := range users {
		if err := dm.Direct(ctx, id, dmsg); err != nil {
			errs = append(errs, fmt.Errorf("direct message to %s: %w", id, err))
		}
	}
	detail := fmt.Sprintf("sent %d approver(s) a direct message", len(users)-len(errs))
	if len(unlisted) > 0 {
		m.Mentions = unlisted
		if err := e.callPost(ctx, r, m, true); err != nil {
			errs = append(errs, err)
		}
		detail += "; mentioned " + commandersText(unlisted, nil)
	}
	return detail, errors.Join(errs...)
}

// groupMembers lists the members of group mention mn, when its platform
// can.
func (e *Engine) groupMembers(ctx context.Context, mn Mention) ([]string, error) {
	res := e.groups[mn.Platform]
	if res == nil {
		return nil, errors.New("the chat cannot list a group's members")
	}
	return res.GroupMembers(ctx, mn.ID)
}
