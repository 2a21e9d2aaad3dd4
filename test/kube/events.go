package kube

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// eventSink writes the fake kubelet's events to the API server and counts
// the writes per pod, so that a pod's status can wait for the events that
// explain it. On a real node the events of a failed pull come well before
// the back-off shows in the status; with an instant fake kubelet and an
// asynchronous recorder, the status could otherwise win the race, and a
// diagnosis read at that moment would show no events.
type eventSink struct {
	record.EventSink

	mu      sync.Mutex
	written map[types.UID]int
	changed chan struct{} // closed and replaced on every write
}

func newEventSink(next record.EventSink) *eventSink {
	return &eventSink{EventSink: next, written: map[types.UID]int{}, changed: make(chan struct{})}
}

func (s *eventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	defer s.wrote(e)
	return s.EventSink.Create(e)
}

func (s *eventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	defer s.wrote(e)
	return s.EventSink.Update(e)
}

func (s *eventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	defer s.wrote(e)
	return s.EventSink.Patch(e, data)
}

// wrote counts one attempt to write e (a failed one too: the recorder
// retries it later, and the status should not wait for that).
func (s *eventSink) wrote(e *corev1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written[e.InvolvedObject.UID]++
	close(s.changed)
	s.changed = make(chan struct{})
}

// eventWait bounds how long a status waits for its events: an event the
// recorder drops (its spam filter) is never written.
const eventWait = 5 * time.Second

// wait returns once n events about the object uid were written, or after
// eventWait.
func (s *eventSink) wait(ctx context.Context, uid types.UID, n int) {
	ctx, cancel := context.WithTimeout(ctx, eventWait)
	defer cancel()
	for {
		s.mu.Lock()
		done, changed := s.written[uid] >= n, s.changed
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
