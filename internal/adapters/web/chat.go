package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"shipmate/internal/runbook"
)

// Channel is the console's one channel.
const Channel = "console"

// Entry is one message of the console's timeline as the browser gets it.
type Entry struct {
	Ref     string          `json:"ref"`
	At      time.Time       `json:"at"`
	Message runbook.Message `json:"message"`
}

// Chat is the console's runbook.Chat: it keeps the messages the engine
// posts and streams every post and update to connected browsers.
type Chat struct {
	now func() time.Time

	mu      sync.Mutex
	seq     int
	notices []Entry // notices (reminders) kept in memory; run messages come from the store
	subs    map[*sub]struct{}
	closed  chan struct{} // closed by Close: streams end
	once    sync.Once
}

// sub is one connected browser.
type sub struct {
	ch     chan []byte
	lagged atomic.Bool // frames were dropped: the page must reload its timeline
}

// drain discards the frames queued for s.
func (s *sub) drain() {
	for range cap(s.ch) {
		select {
		case <-s.ch:
		default:
			return
		}
	}
}

var _ runbook.LocalChat = (*Chat)(nil)

// Local marks the console's chat as one each replica keeps for the
// browsers connected to it: every replica shows it the runs that changed.
func (c *Chat) Local() {}

// NewChat returns an empty console chat.
func NewChat(now func() time.Time) *Chat {
	return &Chat{now: now, subs: map[*sub]struct{}{}, closed: make(chan struct{})}
}

// maxNotices bounds the notices kept for newly loaded pages.
const maxNotices = 200

// Post implements runbook.Chat. A run's message is referred to by its run
// id, so that a page loaded later finds it again from the store.
func (c *Chat) Post(ctx context.Context, channel string, m runbook.Message) (string, error) {
	m = named(m)
	c.mu.Lock()
	ref := ""
	if m.Status != "" && m.RunID != 0 {
		ref = fmt.Sprintf("run-%d", m.RunID)
	} else {
		c.seq++
		ref = fmt.Sprintf("notice-%d", c.seq)
	}
	e := Entry{Ref: ref, At: c.now(), Message: m}
	if m.Status == "" {
		c.notices = append(c.notices, e)
		if len(c.notices) > maxNotices {
			c.notices = c.notices[len(c.notices)-maxNotices:]
		}
	}
	c.mu.Unlock()
	c.broadcast("message", e)
	return ref, nil
}

// Update implements runbook.Chat.
func (c *Chat) Update(ctx context.Context, channel, ref string, m runbook.Message) error {
	c.broadcast("message", Entry{Ref: ref, At: c.now(), Message: named(m)})
	return nil
}

// named shows m's mentions as the console can: the console pings no one,
// so the people and groups called on are named ("@irene") before the
// text, which the page shows as plain text.
func named(m runbook.Message) runbook.Message {
	if len(m.Mentions) == 0 {
		return m
	}
	var b strings.Builder
	for _, mn := range m.Mentions {
		b.WriteString("@" + mn.Name + " ")
	}
	m.Text, m.Mentions = b.String()+m.Text, nil
	return m
}

// Notices returns the notices posted since the start, oldest first.
func (c *Chat) Notices() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Entry(nil), c.notices...)
}

// Close ends every open stream, so that a server shutting down does not
// wait for browsers to leave.
func (c *Chat) Close() { c.once.Do(func() { close(c.closed) }) }

// streamBuffer is how many frames a browser may fall behind before it
// misses some and is told to resync.
const streamBuffer = 256

// subscribe registers a browser and returns its subscription and a cancel.
func (c *Chat) subscribe() (*sub, func()) {
	s := &sub{ch: make(chan []byte, streamBuffer)}
	c.mu.Lock()
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	return s, func() {
		c.mu.Lock()
		delete(c.subs, s)
		c.mu.Unlock()
	}
}

// broadcast sends an event to every subscriber. A browser too slow to keep
// up misses frames rather than stalling the engine, and is told to reload
// its timeline.
func (c *Chat) broadcast(event string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	frame := []byte("event: " + event + "\ndata: " + string(data) + "\n\n")
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.subs {
		select {
		case s.ch <- frame:
		default:
			s.lagged.Store(true)
		}
	}
}
