package runbook

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/commands"
)

// logTail is how many lines of step output a run's message shows.
const logTail = 12

// Config wires an Engine.
type Config struct {
	Store  Store
	Policy *Policy
	// Executors maps app names to the executor that deploys them.
	Executors map[string]Executor
	// Chats maps platform names ("web", "slack") to their chat.
	Chats map[string]Chat
	// Groups maps platform names to resolvers of their user groups.
	Groups map[string]GroupResolver
	// Checkers maps app names to what checks their automated items.
	Checkers map[string]Checker
	// Analyzer runs the post-deployment analysis's queries (nil: none).
	Analyzer Analyzer
	Clock    Clock
	Log      zerolog.Logger
	Observer Observer
	// OutputFlush is how often streamed step output is written to the store
	// and shown in chat (default 1s).
	OutputFlush time.Duration
	// OutputHead and OutputTail bound the output a step keeps in the
	// store: its first and its last lines (DefaultOutputHead and
	// DefaultOutputTail when zero), with a line saying how many between
	// them were left out.
	OutputHead, OutputTail int
	// Secrets are values (tokens, passwords) replaced by *** in whatever
	// the engine stores or shows: step output, notes, errors.
	Secrets []string
	// Follow starts the engine as one of several replicas on a shared
	// store: it takes commands and clicks and stores what they decide, but
	// does no background work (steps, timers) until Lead makes it the
	// leader.
	Follow bool
}

// Engine runs the deployment workflow. It keeps no state of its own beyond
// what is in flight: every decision is read from and written to the Store,
// so a new Engine on the same Store resumes where the old one stopped.
type Engine struct {
	store     Store
	policy    *Policy
	executors map[string]Executor
	chats     map[string]Chat
	groups    map[string]GroupResolver
	checkers  map[string]Checker
	analyzer  Analyzer
	clock     Clock
	log       zerolog.Logger
	obs       Observer
	flush     time.Duration
	outHead   int
	outTail   int
	redact    redactor
	parser    *commands.Parser
	people    people

	// ctx bounds background work; steps use it so that Close stops them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// term is the leadership under which background work runs (nil: this
	// engine follows, another replica works); under e.mu.
	term *term

	draining atomic.Bool

	mu       sync.Mutex
	busy     map[uint64]bool   // a goroutine is advancing this run
	steps    map[uint64]*step  // executor steps in flight
	inFlight map[asideKey]bool // timer work in flight (health checks, re-checks, notices)
	pending  map[uint64]bool   // kicked while busy: advance again after
}

// step is an executor call in flight, so that it can be cancelled.
type step struct {
	cancel      context.CancelFunc
	cancelledBy *User
}

// New returns an Engine. Call Resume once before serving users.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = ClockFunc(time.Now)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.OutputFlush <= 0 {
		cfg.OutputFlush = time.Second
	}
	if cfg.OutputHead <= 0 {
		cfg.OutputHead = DefaultOutputHead
	}
	if cfg.OutputTail <= 0 {
		cfg.OutputTail = DefaultOutputTail
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		store: cfg.Store, policy: cfg.Policy, executors: cfg.Executors, chats: cfg.Chats,
		groups: cfg.Groups, checkers: cfg.Checkers, analyzer: cfg.Analyzer, clock: cfg.Clock, log: cfg.Log, obs: cfg.Observer, flush: cfg.OutputFlush,
		outHead: cfg.OutputHead, outTail: cfg.OutputTail, redact: newRedactor(cfg.Secrets),
		parser: newParser(cfg.Policy), people: newPeople(cfg.Policy), ctx: ctx, cancel: cancel,
		busy: map[uint64]bool{}, steps: map[uint64]*step{},
		inFlight: map[asideKey]bool{}, pending: map[uint64]bool{},
	}
	if !cfg.Follow {
		// A lone engine leads for as long as it lives.
		e.term = &term{ctx: ctx}
	}
	return e
}

// AttachChat adds the chat of platform, for an adapter that can only be
// built once the engine exists (it takes the engine's commands). Call it
// before Resume.
func (e *Engine) AttachChat(platform string, c Chat) {
	if e.chats == nil {
		e.chats = map[string]Chat{}
	}
	e.chats[platform] = c
}

// Policy returns the engine's rule book.
func (e *Engine) Policy() *Policy { return e.policy }

// Parser returns a command parser for the engine's environments and apps.
func (e *Engine) Parser() *commands.Parser { return e.parser }

func newParser(p *Policy) *commands.Parser {
	cp := &commands.Parser{Apps: p.AppNames()}
	for _, env := range p.Envs {
		cp.Envs = append(cp.Envs, commands.Env{Name: env.Name, Aliases: env.Aliases})
	}
	return cp
}

// Drain stops new runs from starting; steps already running go on. Runs
// that are approved but not started stay approved and start after a restart.
func (e *Engine) Drain() { e.draining.Store(true) }

// Draining reports whether Drain was called.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Wait blocks until all background work has finished or ctx ends.
func (e *Engine) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels whatever still runs and waits for it to stop. Runs whose
// steps are cut short this way are not marked: after a restart they resume
// (or end as interrupted) like after a crash.
func (e *Engine) Close() {
	e.cancel()
	e.wg.Wait()
}

func (e *Engine) now() time.Time { return e.clock.Now().UTC() }

// maxUpdateTries bounds how often update decides again on a run that keeps
// changing under it.
const maxUpdateTries = 50

// update loads run id, lets fn change it, and saves it with the events fn
// returns if the run is still at the revision fn saw; if it changed
// meanwhile, update reads it again and lets fn decide again. Nothing is
// locked while fn runs, so fn may call slow things (an executor's resolve,
// a checker, a group look-up) without holding up anyone; fn must do
// nothing but decide, since it may run more than once. fn returning an
// error saves nothing. The run's message is refreshed after.
func (e *Engine) update(ctx context.Context, id uint64, fn func(r *Run) ([]Event, error)) (*Run, error) {
	return e.change(ctx, id, true, fn)
}

// change is update, refreshing the run's message only when refresh is
// set: bookkeeping the message does not show leaves it alone.
func (e *Engine) change(ctx context.Context, id uint64, refresh bool, fn func(r *Run) ([]Event, error)) (*Run, error) {
	for try := 1; ; try++ {
		r, err := e.store.Run(ctx, id)
		if err != nil {
			return nil, err
		}
		evs, err := fn(r)
		if err != nil {
			return r, err
		}
		err = e.save(ctx, r, refresh, evs...)
		if errors.Is(err, ErrStale) && try < maxUpdateTries {
			continue
		}
		return r, err
	}
}

// save stores r and reports its events to the audit log, the transition
// to the observer and, when refresh is set, to chat.
func (e *Engine) save(ctx context.Context, r *Run, refresh bool, evs ...Event) error {
	if err := checkTransitions(evs); err != nil {
		return fmt.Errorf("run %s: %w", r.Ref(), err)
	}
	r.UpdatedAt = e.now()
	if r.State.Terminal() && r.FinishedAt.IsZero() {
		r.FinishedAt = r.UpdatedAt
	}
	// The calls a change calls for are stored with it, so none is lost.
	env, _ := e.policy.Env(r.Env)
	r.Calls = append(r.Calls, newCalls(r, env, evs)...)
	if err := e.store.SaveRun(ctx, r, evs...); err != nil {
		return err
	}
	e.audit(r, evs)
	e.callAside(r, false)
	for _, ev := range evs {
		if ev.Type != EvTransition {
			continue
		}
		e.obs.Transition(r.App, r.Env, ev.From, ev.To)
		if ev.To == StateApproved && len(r.Approvals) > 0 {
			e.obs.ApprovalWait(r.App, r.Env, ev.At.Sub(r.CreatedAt))
		}
	}
	if refresh {
		e.refresh(ctx, r)
	}
	return nil
}

// move changes r's state and returns the transition event.
func (e *Engine) move(r *Run, to State, actor *User, detail string) Event {
	detail = e.redact.text(detail)
	ev := Event{At: e.now(), Type: EvTransition, Actor: actor, From: r.State, To: to, Detail: detail}
	switch to {
	case StateDeploying, StateVerifying, StateRollingBack:
		r.StepHandle = "" // a new step records its own
	}
	if to != r.State {
		r.StateSince = ev.At
	}
	r.State = to
	r.StopRequestedBy = nil // it was for the step of the state left
	if detail != "" {
		r.Note = detail
	}
	return ev
}

func (e *Engine) event(typ string, actor *User, detail string) Event {
	return Event{At: e.now(), Type: typ, Actor: actor, Detail: e.redact.text(detail)}
}

// refresh posts or updates the run's chat message. Chat failures are logged,
// never fatal: the store is the record.
// newLog, from a running step, are the output lines no update carried yet.
func (e *Engine) refresh(ctx context.Context, r *Run, newLog ...string) {
	chat, ok := e.chats[r.Origin.Platform]
	if !ok || r.Origin.MessageRef == "" {
		return
	}
	m := e.Message(r)
	m.NewLog = newLog
	if err := chat.Update(ctx, r.Origin.Channel, r.Origin.MessageRef, m); err != nil {
		e.log.Warn().Err(err).Uint64("run", r.ID).Msg("chat: update message")
	}
}

// post sends the run's first message, once its state is stored, and then
// stores the message's reference with the run.
func (e *Engine) post(ctx context.Context, r *Run) {
	chat, ok := e.chats[r.Origin.Platform]
	if !ok || r.Origin.MessageRef != "" {
		return
	}
	m := e.Message(r)
	m.PostKey = fmt.Sprintf("run-%d", r.ID)
	ref, err := chat.Post(ctx, r.Origin.Channel, m)
	if err != nil {
		e.log.Warn().Err(err).Uint64("run", r.ID).Msg("chat: post message")
		return
	}
	for try := 1; ; try++ {
		cur, err := e.store.Run(ctx, r.ID)
		if err != nil {
			e.log.Warn().Err(err).Uint64("run", r.ID).Msg("store the run's message")
			return
		}
		if cur.Origin.MessageRef != "" {
			return
		}
		cur.Origin.MessageRef = ref
		// The message was drawn from an earlier revision: when the run
		// moved on meanwhile, it is edited to show where it is now.
		err = e.save(ctx, cur, cur.Rev != r.Rev)
		if errors.Is(err, ErrStale) && try < maxUpdateTries {
			continue
		}
		if err != nil {
			e.log.Warn().Err(err).Uint64("run", r.ID).Msg("store the run's message")
			return
		}
		r.Origin.MessageRef = ref
		return
	}
}

// spawn runs fn in the background under the current term, tracked by Wait
// and Close. It returns false, running nothing, when this engine does not
// lead. The caller holds e.mu.
func (e *Engine) spawn(fn func(ctx context.Context)) bool {
	t := e.term
	if t == nil {
		return false
	}
	e.wg.Add(1)
	t.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer t.wg.Done()
		defer func() {
			// A bug must not take every other run down with it: the run
			// stays in its stored state and is picked up again by the
			// next tick or start.
			if p := recover(); p != nil {
				e.log.Error().Str("panic", fmt.Sprint(p)).Str("stack", string(debug.Stack())).Msg("background work failed")
			}
		}()
		fn(t.ctx)
	}()
	return true
}

// kick advances run id in the background unless that is already happening,
// in which case the running advance goes round once more. An engine that
// does not lead leaves the run to the leader, which sees it change.
func (e *Engine) kick(id uint64, resumed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term == nil {
		return
	}
	if e.busy[id] {
		e.pending[id] = true
		return
	}
	e.busy[id] = true
	e.spawn(func(ctx context.Context) {
		finished := false
		defer func() {
			if !finished { // a panic: free the run for the next tick
				e.mu.Lock()
				delete(e.busy, id)
				delete(e.pending, id)
				e.mu.Unlock()
			}
		}()
		for {
			if err := e.advance(ctx, id, resumed); err != nil && ctx.Err() == nil {
				e.log.Error().Err(err).Uint64("run", id).Msg("advance run")
			}
			resumed = false
			// Deciding to stop and freeing the run happen under one lock, so
			// a kick that comes in meanwhile is never lost.
			e.mu.Lock()
			if !e.pending[id] || ctx.Err() != nil {
				delete(e.busy, id)
				delete(e.pending, id)
				finished = true
				e.mu.Unlock()
				return
			}
			delete(e.pending, id)
			e.mu.Unlock()
		}
	})
}

func (e *Engine) env(name string) (*Environment, error) {
	env, ok := e.policy.Env(name)
	if !ok {
		return nil, Errorf(EInvalid, "unknown environment %q", name)
	}
	return env, nil
}

func (e *Engine) executor(app string) (Executor, error) {
	x, ok := e.executors[app]
	if !ok {
		return nil, Errorf(EInvalid, "unknown app %q", app)
	}
	return x, nil
}

// job describes r's current work for the executor.
func job(r *Run) Job {
	j := Job{RunID: r.ID, Action: r.Action, App: r.App, Env: r.Env, Version: r.Version,
		PreviousVersion: r.PreviousVersion, Artifact: r.Artifact, Requester: r.Requester.String()}
	if r.State == StateRollingBack && r.Action == ActionDeploy {
		// Undoing this run's own deploy: back to what ran before it.
		j.Action, j.Version, j.PreviousVersion, j.Artifact = ActionRollback, r.PreviousVersion, r.Version, ""
	}
	return j
}

func fmtTime(t time.Time) string { return t.UTC().Format("Mon 2006-01-02 15:04 UTC") }

func isCancelled(err error) bool { return errors.Is(err, context.Canceled) }
