package runbook

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// term is one stretch of leadership: the work started under it runs with
// its context and ends with it.
type term struct {
	ctx context.Context
	wg  sync.WaitGroup
}

// ErrLeading is returned by Lead when the engine already leads.
var ErrLeading = errors.New("runbook: the engine already leads")

// Lead makes a following engine (Config.Follow) the one that works: it
// resumes every unfinished run and then, until ctx ends, runs steps and
// timers and picks up the runs other replicas change (see Changed). The
// work runs with ctx, so a store can refuse the writes of a leader that has
// been deposed; when ctx ends the work is cut off unrecorded, like at a
// stop, and Lead returns once it has stopped. The next leader re-attaches
// to the steps this one left, or ends their runs as interrupted.
func (e *Engine) Lead(ctx context.Context) error {
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.ctx, cancel) // Close ends the term too
	defer stop()
	t := &term{ctx: tctx}
	e.mu.Lock()
	if e.term != nil {
		e.mu.Unlock()
		return ErrLeading
	}
	e.term = t
	e.mu.Unlock()

	err := e.Resume(tctx)
	<-tctx.Done()
	e.mu.Lock()
	e.term = nil
	e.mu.Unlock()
	t.wg.Wait()
	return err
}

// Leading reports whether this engine does the background work.
func (e *Engine) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term != nil
}

// termCtx returns the current term's context bounded by ctx too, or ok
// false when the engine does not lead.
func (e *Engine) termCtx(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	e.mu.Lock()
	t := e.term
	e.mu.Unlock()
	if t == nil {
		return nil, nil, false
	}
	tctx, cancel := context.WithCancel(t.ctx)
	stop := context.AfterFunc(ctx, cancel)
	return tctx, func() { stop(); cancel() }, true
}

// Changed tells the engine that run id changed in the store, as a watch on
// a shared store sees it (id 0: anything may have changed). Each replica
// shows the run on its local chats (the console streams to the browsers
// connected to it); the leader stops a step someone asked to stop on
// another replica and picks up work the change calls for (a run requested
// or approved elsewhere).
func (e *Engine) Changed(ctx context.Context, id uint64) {
	if id == 0 {
		if e.Leading() {
			if err := e.rescan(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn().Err(err).Msg("pick up changed runs")
			}
		}
		return
	}
	r, err := e.store.Run(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrRunNotFound) && ctx.Err() == nil {
			e.log.Warn().Err(err).Uint64("run", id).Msg("read changed run")
		}
		return
	}
	if c, ok := e.chats[r.Origin.Platform].(LocalChat); ok && r.Origin.MessageRef != "" {
		if err := c.Update(ctx, r.Origin.Channel, r.Origin.MessageRef, e.Message(r)); err != nil {
			e.log.Warn().Err(err).Uint64("run", id).Msg("chat: show changed run")
		}
	}
	if !e.Leading() {
		return
	}
	e.callAside(r, false) // a call another replica stored with its change
	if r.State.Terminal() {
		return
	}
	if r.StopRequestedBy != nil {
		e.stopStep(r.ID, *r.StopRequestedBy)
	}
	e.kick(id, false)
}

// rescan kicks every unfinished run, after a watch lost track.
func (e *Engine) rescan(ctx context.Context) error {
	runs, err := e.store.ActiveRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		e.kick(r.ID, false)
	}
	return nil
}

// stopStep cancels run id's step in flight here on u's behalf; it reports
// whether there was one.
func (e *Engine) stopStep(id uint64, u User) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.steps[id]
	if st == nil {
		return false
	}
	if st.cancelledBy == nil {
		st.cancelledBy = &u
		st.cancel()
	}
	return true
}

// Resume picks up every unfinished run after a start. Runs whose step was
// cut off by the stop are re-attached when the executor can, and otherwise
// end as interrupted: a deploy is never started twice.
func (e *Engine) Resume(ctx context.Context) error {
	runs, err := e.store.ActiveRuns(ctx)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	for _, r := range runs {
		e.log.Info().Uint64("run", r.ID).Str("state", string(r.State)).Msg("resuming run")
		e.obs.Transition(r.App, r.Env, "", r.State)
		e.kick(r.ID, true)
		e.callAside(r, true)
	}
	// The calls finished runs still owe are looked for aside: reading the
	// newest runs of every app and environment must not hold up answering.
	pairs := e.appEnvs()
	e.aside(0, "resume calls", func(ctx context.Context) {
		if err := e.resumeCalls(ctx, pairs); err != nil && ctx.Err() == nil {
			e.log.Error().Err(err).Msg("resume the calls finished runs owe")
		}
	})
	return nil
}
