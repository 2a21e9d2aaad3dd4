package runbook

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults for how much of a step's output is kept.
const (
	// DefaultOutputHead lines of each step are stored as they come.
	DefaultOutputHead = 500
	// DefaultOutputTail lines, the last ones after the head, are stored
	// when the step ends, after a line saying how many were left out.
	DefaultOutputTail = 2000
	// maxLineRunes cuts a single line that never ends.
	maxLineRunes = 4096
)

// output collects a step's output as it arrives, in bounded memory however
// much the step prints: the head, stored as it comes; the last lines after
// it, stored at the end; the lines not yet shown in chat (the newest of
// them); and the tail the run's message shows.
type output struct {
	mu         sync.Mutex
	head, keep int
	redact     redactor
	seen       int      // lines added
	stored     []string // head lines not yet taken for the store
	later      []string // the newest lines after the head (at most 2×keep)
	shown      []string // lines not yet shown in chat (at most 2×keep)
	unshown    int      // lines dropped from shown since the last take
	tail       []string // what the message shows
}

func newOutput(head, keep int, redact redactor) *output {
	return &output{head: head, keep: max(keep, logTail), redact: redact}
}

// keepLast appends line to s, trimming it to its last n lines now and
// then, so that adding is cheap and s stays under 2n lines. It returns how
// many lines it dropped.
func keepLast(s []string, line string, n int) ([]string, int) {
	s = append(s, line)
	if len(s) <= 2*n {
		return s, 0
	}
	drop := len(s) - n
	return append(s[:0:0], s[drop:]...), drop
}

func (o *output) add(line string) {
	line = o.redact.text(strings.TrimRight(line, "\r\n"))
	if utf8.RuneCountInString(line) > maxLineRunes {
		line = string([]rune(line)[:maxLineRunes]) + "…"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen++
	if o.seen <= o.head {
		o.stored = append(o.stored, line)
	} else {
		o.later, _ = keepLast(o.later, line, o.keep)
	}
	var dropped int
	o.shown, dropped = keepLast(o.shown, line, o.keep)
	o.unshown += dropped
	o.tail = append(o.tail, line)
	if len(o.tail) > logTail {
		o.tail = o.tail[len(o.tail)-logTail:]
	}
}

// take returns the head lines to store now, the lines to show in chat
// since the last take (with a line saying how many were skipped, when the
// step printed faster than chat could be told), and the current tail.
func (o *output) take() (stored, shown, tail []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	stored, o.stored = o.stored, nil
	shown, o.shown = o.shown, nil
	if len(shown) > o.keep {
		o.unshown += len(shown) - o.keep
		shown = shown[len(shown)-o.keep:]
	}
	if o.unshown > 0 {
		shown = append([]string{fmt.Sprintf("… %d lines not shown here …", o.unshown)}, shown...)
		o.unshown = 0
	}
	return stored, shown, append([]string(nil), o.tail...)
}

// rest returns what is stored when the step ends: the last lines after the
// head, after a line saying how many were left out between them.
func (o *output) rest() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	later := o.later
	if len(later) > o.keep {
		later = later[len(later)-o.keep:]
	}
	if left := o.seen - o.head - len(later); left > 0 {
		later = append([]string{fmt.Sprintf("… %d lines left out …", left)}, later...)
	}
	o.later = nil
	return later
}

// runStep runs one executor call for r, streaming its output to the event
// log and the chat message, and returns the output's tail and its error.
// A user's cancel (see Act) cancels the step's context.
func (e *Engine) runStep(ctx context.Context, r *Run, name string, fn func(context.Context, Progress) error) (tail []string, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &step{cancel: cancel}
	e.mu.Lock()
	e.steps[r.ID] = st
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.steps, r.ID)
		e.mu.Unlock()
	}()
	// Someone may have asked to stop the step before it was registered
	// here (on another replica, or just before it started).
	if cur, err := e.store.Run(ctx, r.ID); err == nil && cur.StopRequestedBy != nil && cur.State == r.State {
		e.stopStep(r.ID, *cur.StopRequestedBy)
	}

	out := newOutput(e.outHead, e.outTail, e.redact)
	view := *r
	flush := func() {
		stored, shown, tail := out.take()
		e.storeOutput(ctx, r.ID, name, stored)
		if len(shown) == 0 {
			return
		}
		view.Log = tail
		e.refresh(ctx, &view, shown...)
	}
	done := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(e.flush)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				flush()
			case <-done:
				return
			}
		}
	}()

	began := time.Now()
	err = e.redact.err(fn(sctx, out.add))
	e.obs.Step(r.App, r.Env, name, time.Since(began), err)
	close(done)
	<-flushed
	flush()
	e.storeOutput(ctx, r.ID, name, out.rest())

	e.mu.Lock()
	by := st.cancelledBy
	e.mu.Unlock()
	if by != nil && err != nil {
		err = fmt.Errorf("cancelled by %s", by)
	}
	detail := name + " succeeded"
	if err != nil {
		detail = name + ": " + err.Error()
	}
	if ctx.Err() == nil {
		evs := []Event{e.event(EvStep, nil, detail)}
		if aerr := e.store.AppendEvents(ctx, r.ID, evs...); aerr != nil {
			e.log.Warn().Err(aerr).Uint64("run", r.ID).Msg("store step result")
		} else {
			e.audit(r, evs) // numbered by the store
		}
	}
	_, _, tail = out.take()
	return tail, err
}

// storeOutput appends lines of a step's output to the run's trail.
func (e *Engine) storeOutput(ctx context.Context, id uint64, step string, lines []string) {
	if len(lines) == 0 {
		return
	}
	evs := make([]Event, len(lines))
	for i, l := range lines {
		evs[i] = e.event(EvOutput, nil, step+": "+l)
	}
	if err := e.store.AppendEvents(ctx, id, evs...); err != nil {
		e.log.Warn().Err(err).Uint64("run", id).Msg("store step output")
	}
}
