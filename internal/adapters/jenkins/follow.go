package jenkins

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// reattachTail is how many console lines already written a re-attach
// shows again.
const reattachTail = 20

// follow watches build n until it ends, streaming its console and its
// progress. reattach starts the console with the end of what is there.
func (s *step) follow(n int64, url string, reattach bool) error {
	name := s.x.cfg.Job
	con := &console{s: s, n: n, lines: lineSplitter{emit: s.p}}
	if reattach {
		con.skipTo = reattachTail
	}
	out := s.outage(fmt.Sprintf("following build #%d", n))
	shown := ""
	for {
		b, err := s.c.build(s.tctx, s.x.path, n)
		if err == nil {
			if b.URL != "" {
				url = b.URL
			}
			// The console after the status: once the status says the build
			// ended, the console is read to its end below.
			err = con.pull(s.tctx)
		}
		switch {
		case s.tctx.Err() != nil:
			return s.abandonBuild(n, url)
		case hasStatus(err, 404):
			return fmt.Errorf("Jenkins has no build %s #%d (deleted?); see %s", name, n, s.x.jobURL())
		case err != nil && transient(err):
			if out.wait(err) != nil {
				return s.abandonBuild(n, url)
			}
			continue
		case err != nil:
			return err
		}
		out.over()
		if !b.Building && b.Result != "" {
			con.drain()
			return s.result(n, url, b, con.lines.last)
		}
		if line := s.progressLine(n, b); line != shown {
			shown = line
			s.say("%s", line)
		}
		if sleep(s.tctx, s.c.t.build) != nil {
			return s.abandonBuild(n, url)
		}
	}
}

// progressLine says how far build n is, in steps of 10% so that it changes
// only now and then.
func (s *step) progressLine(n int64, b *buildInfo) string {
	if b.EstimatedDuration <= 0 {
		return fmt.Sprintf("build #%d running (Jenkins has no estimate of its duration yet)", n)
	}
	est := (time.Duration(b.EstimatedDuration) * time.Millisecond).Round(time.Second)
	pct := -1
	switch {
	case b.Executor != nil && b.Executor.Progress != nil && *b.Executor.Progress >= 0:
		// Jenkins's own figure, free of any clock skew between it and us.
		pct = *b.Executor.Progress
	case b.Timestamp > 0:
		pct = int(s.c.now().Sub(time.UnixMilli(b.Timestamp)) * 100 / (time.Duration(b.EstimatedDuration) * time.Millisecond))
	}
	switch {
	case pct < 0:
		return fmt.Sprintf("build #%d running, estimated to take %s", n, est)
	case pct >= 100:
		return fmt.Sprintf("build #%d running, longer than the estimated %s", n, est)
	}
	return fmt.Sprintf("build #%d running, %d%% of the estimated %s", n, pct/10*10, est)
}

// result turns the build's result into the step's.
func (s *step) result(n int64, url string, b *buildInfo, last string) error {
	took := (time.Duration(b.Duration) * time.Millisecond).Round(time.Second)
	s.log.Info().Int64("build", n).Str("result", b.Result).Dur("duration", took).Msg("jenkins: build finished")
	s.say("build #%d finished: %s after %s", n, b.Result, took)
	switch {
	case b.Result == "SUCCESS":
		return nil
	case b.Result == "UNSTABLE" && s.x.cfg.Unstable == UnstableOK:
		s.say("build #%d is UNSTABLE, which counts as success for %s (unstable: succeed)", n, s.j.App)
		return nil
	}
	msg := fmt.Sprintf("Jenkins build %s #%d ended %s", s.x.cfg.Job, n, b.Result)
	if b.Result == "ABORTED" {
		msg += " (it was stopped in Jenkins)"
	}
	if last != "" {
		msg += ": " + last
	}
	return errors.New(msg + " (" + url + "console)")
}

// console streams one build's console.
type console struct {
	s      *step
	n      int64
	offset int64
	more   bool
	lines  lineSplitter
	// skipTo, when not 0, makes the first read show only its last skipTo
	// lines (a re-attach: the rest was shown before the restart).
	skipTo int
}

// pull reads what the console gained since the last pull.
func (c *console) pull(ctx context.Context) error {
	ch, err := c.s.c.console(ctx, c.s.x.path, c.n, c.offset)
	if err != nil {
		return err
	}
	if ch.next < c.offset {
		// The log shrank (Jenkins restarts from 0 when start is past its
		// end): what follows is new to us only from our offset on.
		ch.next = c.offset
		ch.text = nil
	}
	c.offset, c.more = ch.next, ch.more
	if c.skipTo > 0 {
		c.first(ch.text)
	} else {
		c.lines.write(ch.text)
	}
	if ch.cut {
		c.lines.close()
		c.s.p(fmt.Sprintf("… (console output skipped: more than %d MiB at once)", consoleLimit>>20))
	}
	return nil
}

// first shows the end of the console found on re-attaching.
func (c *console) first(text []byte) {
	var held []string
	total := 0
	emit := c.lines.emit
	c.lines.emit = func(l string) {
		total++
		held = append(held, l)
		if len(held) > c.skipTo {
			held = held[1:]
		}
	}
	c.lines.write(text)
	c.lines.emit = emit
	c.skipTo = 0
	if skipped := total - len(held); skipped > 0 {
		c.s.p(fmt.Sprintf("… (%d earlier console lines not repeated)", skipped))
	}
	for _, l := range held {
		emit(l)
	}
}

// drain reads the rest of the console of a build that ended: Jenkins may
// still be writing its last lines.
func (c *console) drain() {
	ctx, cancel := context.WithTimeout(c.s.tctx, c.s.c.t.drain)
	defer cancel()
	delay := c.s.c.t.queue
	for c.more {
		if sleep(ctx, delay) != nil {
			break
		}
		if err := c.pull(ctx); err != nil && !transient(err) {
			break
		}
	}
	if c.more {
		c.s.p("… (the end of the console could not be read; see the build in Jenkins)")
	}
	c.lines.close()
}
