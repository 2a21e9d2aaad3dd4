package slack

import (
	"context"
	"errors"
	"slices"
	"testing"

	"shipmate/internal/runbook"
)

// flowStopAfterPost is the chat of a bot that stops right after Slack took
// a run's message: the post goes out, but the engine never hears of it and
// so never stores the message's ts.
type flowStopAfterPost struct{ *Chat }

func (c flowStopAfterPost) Post(ctx context.Context, channel string, m runbook.Message) (string, error) {
	if _, err := c.Chat.Post(ctx, channel, m); err != nil || m.PostKey == "" {
		return "", err
	}
	return "", errors.New("stopped before the message's ts was stored")
}

// A bot stopped between posting a run's message and storing its ts finds
// the message once it runs again, rather than posting it twice, and goes
// on editing it.
func TestFlowRestartBetweenPostAndStore(t *testing.T) {
	first := newFlow(t, flowOptions{chat: func(c *Chat) runbook.Chat { return flowStopAfterPost{c} }})
	id := first.request("U0DEV", flowRelease, "demo v1.2.0 staging")
	first.settle()
	if r := first.wantState(id, runbook.StateChecklist); r.Origin.MessageRef != "" {
		t.Fatalf("run #%d has message %q, want none stored", id, r.Origin.MessageRef)
	}
	posted := first.fake.ChannelPosts(flowRelease)
	if len(posted) != 1 {
		t.Fatalf("%d messages in %s before the restart, want the run's one", len(posted), flowRelease)
	}

	second := newFlow(t, flowOptions{restart: first}) // resumes the run, which posts its message
	second.settle()
	r := second.wantState(id, runbook.StateChecklist)
	if r.Origin.MessageRef != posted[0].TS {
		t.Errorf("run #%d has message %q, want %q, the one posted before the restart", id, r.Origin.MessageRef, posted[0].TS)
	}
	if n := len(second.fake.ChannelPosts(flowRelease)); n != 1 {
		t.Errorf("%d messages in %s after the restart, want the run's one", n, flowRelease)
	}
	if n := second.fake.Calls("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want once", n)
	}

	items := second.checklistOf("staging")
	second.click("U0LEAD", id, ticks(id, items[0]))
	second.settle()
	v := second.viewOf(id)
	if _, ok := v.Ticked[items[0]]; !ok || len(v.Ticked) != 1 || !slices.Equal(v.Options, items) {
		t.Errorf("options %v ticked %v after a click, want %v with %s ticked", v.Options, v.Ticked, items, items[0])
	}
}
