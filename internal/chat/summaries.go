package chat

import (
	"context"
	"strings"
	"sync"
)

// RefStore keeps references of a run's messages (the store implements
// it), so that a restarted bot finds the summaries it posted.
type RefStore interface {
	RunRef(ctx context.Context, id uint64, name string) (string, bool, error)
	SetRunRef(ctx context.Context, id uint64, name, value string) error
}

// summaries is one chat's record, across restarts, of where it put each
// run's summary (its announce channel post), so that a restarted bot goes
// on editing it instead of leaving it behind. A nil *summaries, or one
// without a store, remembers nothing. Safe for concurrent use.
type summaries struct {
	store RefStore
	name  string // the reference's name, such as "slack.summary"

	mu     sync.Mutex
	looked map[uint64]bool // runs already looked up by this process
}

// newSummaries returns the summaries kept in store under name (nil store:
// none).
func newSummaries(store RefStore, name string) *summaries {
	return &summaries{store: store, name: name, looked: map[uint64]bool{}}
}

// Remember stores that run id's summary is message ref in channel.
func (s *summaries) Remember(ctx context.Context, id uint64, channel, ref string) error {
	if s == nil || s.store == nil {
		return nil
	}
	return s.store.SetRunRef(ctx, id, s.name, channel+"/"+ref)
}

// Restore returns the message an earlier process stored as run id's
// summary in channel. It asks the store once per run: later calls, and
// summaries stored for another channel, report none.
func (s *summaries) Restore(ctx context.Context, id uint64, channel string) (string, bool, error) {
	if s == nil || s.store == nil || id == 0 {
		return "", false, nil
	}
	s.mu.Lock()
	looked := s.looked[id]
	s.looked[id] = true
	s.mu.Unlock()
	if looked {
		return "", false, nil
	}
	v, ok, err := s.store.RunRef(ctx, id, s.name)
	if err != nil || !ok {
		return "", false, err
	}
	ch, ref, _ := strings.Cut(v, "/")
	if ch != channel || ref == "" {
		return "", false, nil // in a channel no longer announced to
	}
	return ref, true, nil
}

// Forget lets Restore ask the store about run id again (after its summary
// was dropped from memory).
func (s *summaries) Forget(id uint64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.looked, id)
	s.mu.Unlock()
}
