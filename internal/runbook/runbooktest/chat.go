package runbooktest

import (
	"context"
	"fmt"
	"sync"

	"shipmate/internal/runbook"
)

// Chat is a fake chat: it records what the engine posts, updates and
// replies in threads, as a chat would show it. It implements runbook.Chat
// and runbook.Threader.
type Chat struct {
	mu      sync.Mutex
	n       int
	msgs    map[string]runbook.Message
	posts   []runbook.Message
	replies []Reply
	newLog  []string
}

// Reply is a note posted in the thread of message Ref.
type Reply struct {
	Ref string
	M   runbook.Message
}

// Post implements runbook.Chat; refs are "channel/n".
func (c *Chat) Post(_ context.Context, channel string, m runbook.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	ref := fmt.Sprintf("%s/%d", channel, c.n)
	if c.msgs == nil {
		c.msgs = map[string]runbook.Message{}
	}
	c.msgs[ref] = m
	c.posts = append(c.posts, m)
	return ref, nil
}

// Update implements runbook.Chat.
func (c *Chat) Update(_ context.Context, channel, ref string, m runbook.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.msgs[ref]; !ok {
		return fmt.Errorf("no message %s", ref)
	}
	c.msgs[ref] = m
	c.newLog = append(c.newLog, m.NewLog...)
	return nil
}

// Reply implements runbook.Threader.
func (c *Chat) Reply(_ context.Context, channel, ref string, m runbook.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.msgs[ref]; !ok {
		return fmt.Errorf("no message %s", ref)
	}
	c.replies = append(c.replies, Reply{ref, m})
	return nil
}

// Posts returns the messages posted, as first posted.
func (c *Chat) Posts() []runbook.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]runbook.Message(nil), c.posts...)
}

// Replies returns the thread notes, in order.
func (c *Chat) Replies() []Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Reply(nil), c.replies...)
}

// NewLog returns every update's new log lines, in order.
func (c *Chat) NewLog() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.newLog...)
}

// Notices returns the texts of posts that are not run messages (reminders).
func (c *Chat) Notices() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.posts {
		if m.Status == "" {
			out = append(out, m.Text)
		}
	}
	return out
}

// Message returns message ref as it shows now.
func (c *Chat) Message(ref string) runbook.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[ref]
}

// DMChat is a Chat with direct messages (runbook.DirectMessenger); Fail
// makes them fail.
type DMChat struct {
	Chat
	dmu  sync.Mutex
	dms  []DM
	fail error
}

// DM is a direct message sent to User.
type DM struct {
	User string
	M    runbook.Message
}

// Direct implements runbook.DirectMessenger.
func (c *DMChat) Direct(_ context.Context, user string, m runbook.Message) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.dms = append(c.dms, DM{user, m})
	return nil
}

// Fail makes the next direct messages fail with err (nil: succeed).
func (c *DMChat) Fail(err error) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.fail = err
}

// DMs returns the direct messages sent, in order.
func (c *DMChat) DMs() []DM {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return append([]DM(nil), c.dms...)
}
