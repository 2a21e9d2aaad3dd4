package runbook

import (
	"context"
	"errors"
	"time"
)

// Store keeps runs, their audit trail, locks and what is deployed where.
// Each method is one transaction: a run's state and the events that explain
// it are written together, before the engine acts on them. A store may
// also claim the chat delivery ctx carries (WithDelivery) in the first of
// a command's writes (CreateRun, SaveRun, AppendEvents, Hold, Release),
// failing with ErrDuplicateDelivery, storing nothing, when it is stored.
type Store interface {
	// CreateRun assigns the run its ID and stores it with its first events,
	// taking the app+env run lock. If an explicit lock or another active run
	// holds it, it stores nothing and returns that Lock in a *LockedError.
	CreateRun(ctx context.Context, r *Run, evs ...Event) error
	// SaveRun stores r (whose Rev must be the stored Rev; it is bumped) and
	// appends evs. When r is terminal it releases r's run lock, and when it
	// has succeeded or rolled back it records r.Version as deployed.
	SaveRun(ctx context.Context, r *Run, evs ...Event) error
	// AppendEvents adds events to a run's trail without changing the run.
	AppendEvents(ctx context.Context, id uint64, evs ...Event) error
	Run(ctx context.Context, id uint64) (*Run, error)
	// ActiveRuns returns the runs not yet in a terminal state.
	ActiveRuns(ctx context.Context) ([]*Run, error)
	// NewestActive returns the newest limit of the runs not yet in a
	// terminal state, newest first, and how many there are in all.
	NewestActive(ctx context.Context, limit int) (runs []*Run, total int, err error)
	Events(ctx context.Context, id uint64) ([]Event, error)
	// History returns the newest runs of app (in env, if not empty), newest first.
	History(ctx context.Context, app, env string, limit int) ([]*Run, error)
	// HistorySince returns the runs of app in env created at or after
	// since, newest first, at most limit: what it reads does not grow with
	// the history before since.
	HistorySince(ctx context.Context, app, env string, since time.Time, limit int) ([]*Run, error)
	Deployed(ctx context.Context, app, env string) (Deployed, bool, error)
	// Succeeded reports whether a deploy of app at version has succeeded
	// in env (the "staging first" rule), without reading history.
	Succeeded(ctx context.Context, app, env, version string) (bool, error)
	// Hold places an explicit lock; it fails with *LockedError if one is held.
	Hold(ctx context.Context, l Lock) error
	// Release removes the explicit lock on app in env and returns it; ok
	// is false if none is held. A non-zero since releases only the lock
	// placed at that moment: one placed after the caller looked stays, and
	// comes back in a *LockedError.
	Release(ctx context.Context, app, env string, since time.Time) (l Lock, ok bool, err error)
	// HoldOf returns the explicit lock on app (or commands.AllApps) in
	// env; ok is false if none is held.
	HoldOf(ctx context.Context, app, env string) (l Lock, ok bool, err error)
	// RunLockOf returns the id of the run holding app's run lock in env.
	RunLockOf(ctx context.Context, app, env string) (id uint64, ok bool, err error)
	// Holds returns the explicit locks, without the runs' locks.
	Holds(ctx context.Context) ([]Lock, error)
}

// LockedError says an app+env is held by a lock.
type LockedError struct{ Lock Lock }

func (e *LockedError) Error() string { return "locked: " + e.Lock.App + " in " + e.Lock.Env }

// ErrRunNotFound is returned by Store.Run for an unknown id.
var ErrRunNotFound = Errorf(ENotFound, "no such run")

// ErrStale is returned by SaveRun when the run changed since it was read.
var ErrStale = Errorf(EConflict, "the run changed meanwhile; try again")

// Chat posts and updates run messages on one platform.
type Chat interface {
	// Post sends a new message to channel and returns its reference.
	Post(ctx context.Context, channel string, m Message) (ref string, err error)
	// Update replaces the message ref in channel with m.
	Update(ctx context.Context, channel, ref string, m Message) error
}

// LocalChat is implemented by a chat whose messages live in each replica
// rather than on a chat service (the console streams them to the browsers
// connected to it): every replica shows it the runs that changed, whoever
// changed them.
type LocalChat interface {
	Chat
	Local()
}

// Threader is implemented by chats whose messages have threads: the engine
// posts notes about a run (a rollback asked for elsewhere) under its message.
type Threader interface {
	Reply(ctx context.Context, channel, ref string, m Message) error
}

// DirectMessenger is implemented by chats that can message one user
// privately (a Slack or Discord direct message). The engine tells a
// requester how their run ended this way, and the approvers with
// notify_approvers: dm; on a chat without it, they are mentioned in the
// run's thread or channel instead.
type DirectMessenger interface {
	// Direct sends m to user alone. m.Related is the run's message, which
	// the direct message links to.
	Direct(ctx context.Context, user string, m Message) error
}

// Job is what an executor is asked to do.
type Job struct {
	RunID   uint64
	Action  Action
	App     string
	Env     string
	Version string // the version that will run afterwards
	// PreviousVersion is what runs before the job (for a rollback, the
	// version being replaced).
	PreviousVersion string
	Artifact        string
	Requester       string
	// Handle is what the step recorded with Save (a Jenkins build number)
	// when the run was last running it; a Reattacher finds its step by it.
	Handle string
	// Save stores a handle for the step at once, before the step goes on,
	// so that a restarted bot can re-attach to it. Nil outside steps.
	Save func(handle string) error
}

// Checker is implemented by adapters that check checklist items
// themselves (tests passed in CI, the artifact exists) instead of asking a
// person to tick them.
type Checker interface {
	// Check evaluates item for the run j describes.
	Check(ctx context.Context, j Job, item string) (CheckResult, error)
}

// CheckResult is the verdict on one automated checklist item.
type CheckResult struct {
	OK bool
	// Detail says what was found ("ci/billing #412: SUCCESS") or why the
	// item fails.
	Detail string
	// Link points at the evidence (a build's page).
	Link string
}

// Progress receives step output, one line at a time.
type Progress func(line string)

// Executor carries out deployments and rollbacks of an app. Steps stop when
// ctx is cancelled. An error means the step failed.
type Executor interface {
	Deploy(ctx context.Context, j Job, p Progress) error
	Rollback(ctx context.Context, j Job, p Progress) error
}

// Resolver is implemented by executors that can tell, before approval, the
// identity of what a version will deploy (an image digest, a build number).
// Approvals are bound to it.
type Resolver interface {
	Resolve(ctx context.Context, j Job) (artifact string, err error)
}

// Verifier is implemented by executors that run smoke tests and
// post-deployment validation after a deploy.
type Verifier interface {
	Verify(ctx context.Context, j Job, p Progress) error
}

// HealthChecker is implemented by executors that can check an app's health
// during the monitoring window.
type HealthChecker interface {
	Health(ctx context.Context, j Job) error
}

// Reattacher is implemented by executors that can resume watching a step
// that was running when the bot stopped (a Kubernetes rollout, a Jenkins
// build). Without it such a step ends as interrupted.
type Reattacher interface {
	Reattach(ctx context.Context, j Job, p Progress) error
}

// ErrOutcomeUnknown is wrapped by a Reattacher's error when it cannot tell
// how the step ended (it stopped while the bot was down and left no
// result): the run ends as interrupted, for a human to check, rather than
// failed, which could roll back a step that worked.
var ErrOutcomeUnknown = errors.New("the step's outcome is unknown")

// Inspector is implemented by executors that can read what actually runs
// in an environment, so /deploy whereis can flag drift: the environment
// running something Shipmate did not deploy.
type Inspector interface {
	// Live returns the version running for app in env ("" when it cannot
	// be told from what runs) and a short description of what runs.
	Live(ctx context.Context, app, env string) (version, detail string, err error)
}

// GroupResolver expands a platform's user groups into user ids.
type GroupResolver interface {
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// Clock tells the time. Tests use a fake one.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// Observer is told about what the engine does, for metrics.
type Observer interface {
	// Transition is told of a run of app in env moving from one state to
	// another; from is "" for a run entering the engine (created, or
	// found unfinished at start-up).
	Transition(app, env string, from, to State)
	Step(app, env, step string, d time.Duration, err error)
	// Command is told of every chat command with its error code ("" when
	// it succeeded).
	Command(kind, code string)
	// ApprovalWait is told, when people's approvals release a run, how
	// long it waited since it was requested (its checklist included).
	ApprovalWait(app, env string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) Transition(string, string, State, State)           {}
func (nopObserver) Step(string, string, string, time.Duration, error) {}
func (nopObserver) Command(string, string)                            {}
func (nopObserver) ApprovalWait(string, string, time.Duration)        {}
