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
