package runbook

import (
	"context"
	"fmt"
	"time"
)

// State is where a run is in the deployment workflow.
type State string

// The states of a run. A deploy moves requested → checklist → awaiting
// approval → approved → deploying → verifying → monitoring → succeeded; it
// may end early as rejected, cancelled or expired, or go failed → rolling
// back → rolled back / rollback failed. A rollback run goes requested →
// rolling back → rolled back / rollback failed. Interrupted marks a step that
// was running when the bot died and that the executor cannot re-attach to.
const (
	StateRequested        State = "requested"
	StateChecklist        State = "checklist"
	StateAwaitingApproval State = "awaiting_approval"
	StateApproved         State = "approved"
	StateDeploying        State = "deploying"
	StateVerifying        State = "verifying"
	StateMonitoring       State = "monitoring"
	StateSucceeded        State = "succeeded"
	StateRejected         State = "rejected"
	StateCancelled        State = "cancelled"
	StateExpired          State = "expired"
	StateFailed           State = "failed"
	StateRollingBack      State = "rolling_back"
	StateRolledBack       State = "rolled_back"
	StateRollbackFailed   State = "rollback_failed"
	StateInterrupted      State = "interrupted"
	// StateProcedure is a rollback run following the handbook's rollback
	// procedure: it waits there for its rollback owners' ticks and runs
	// Shipmate's own items.
	StateProcedure State = "rollback_procedure"
)

// AllStates lists every state, in workflow order (used for metrics).
var AllStates = []State{
	StateRequested, StateChecklist, StateAwaitingApproval, StateApproved,
	StateDeploying, StateVerifying, StateMonitoring, StateSucceeded,
	StateRejected, StateCancelled, StateExpired, StateFailed,
	StateRollingBack, StateRolledBack, StateRollbackFailed, StateInterrupted,
	StateProcedure,
}

// Terminal reports whether a run in this state is finished: it holds no lock
// and the engine will not touch it again.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateRejected, StateCancelled, StateExpired,
		StateRolledBack, StateRollbackFailed, StateInterrupted:
		return true
	case StateFailed:
		// A run rests in failed only when it will not roll back: the engine
		// stores failed → rolling back as one write, so a crash cannot
		// leave a failed run that still owes a rollback.
		return true
	}
	return false
}

// Label is the state as people read it.
func (s State) Label() string {
	switch s {
	case StateAwaitingApproval:
		return "awaiting approval"
	case StateRollingBack:
		return "rolling back"
	case StateRolledBack:
		return "rolled back"
	case StateRollbackFailed:
		return "rollback failed"
	case StateProcedure:
		return "rollback procedure"
	}
	return string(s)
}

// Action is what a run does to an environment.
type Action string

// The two actions a run can take.
const (
	ActionDeploy   Action = "deploy"
	ActionRollback Action = "rollback"
)

// User is one identity of a person on one chat platform. ID is what the
// platform identifies them by (a Slack user id, a web console user name).
// Person is the name the policy's people: block gives the human behind the
// identity; the engine fills it in as a request comes in. Display names a
// user chose on a platform are never kept: they could name anyone.
type User struct {
	Platform string `json:"platform"`
	ID       string `json:"id"`
	Person   string `json:"person,omitempty"`
	// Groups are the platform groups the request itself says the user is
	// in (a Discord member's guild roles); checked before any resolver.
	Groups []string `json:"groups,omitempty"`
}

// String names the user as Shipmate shows and passes them on: the person's
// name from the policy, else the platform id.
func (u User) String() string {
	if u.Person != "" {
		return u.Person
	}
	return u.ID
}

// Origin is where a run was asked for and where its message lives.
type Origin struct {
	Platform string `json:"platform"`
	Channel  string `json:"channel"`
	// MessageRef identifies the run's message once it is posted, so it can
	// be updated in place (a Slack ts, a web message id).
	MessageRef string `json:"message_ref,omitempty"`
}

// CheckItem is one pre-deployment checklist item of a run.
type CheckItem struct {
	Key   string    `json:"key"`
	Label string    `json:"label"`
	Done  bool      `json:"done"`
	By    *User     `json:"by,omitempty"`
	At    time.Time `json:"at,omitzero"`
	// Auto items are checked by Shipmate (a Checker), never ticked by
	// hand; Detail and Link say what the last check found.
	Auto   bool   `json:"auto,omitempty"`
	Detail string `json:"detail,omitempty"`
	Link   string `json:"link,omitempty"`
}

// Shipmate is the actor of what Shipmate does by itself (automated checks).
var Shipmate = User{Platform: "shipmate", ID: "shipmate", Person: "Shipmate"}

// Approval is one person's approval, bound to exactly what was approved.
type Approval struct {
	By       User      `json:"by"`
	At       time.Time `json:"at"`
	Artifact string    `json:"artifact"`
}

// Run is one deployment or rollback, as stored. Every field the engine needs
// to resume after a restart is here.
type Run struct {
	ID      uint64 `json:"id"`
	Rev     uint64 `json:"rev"` // bumped on every save; guards lost updates
	Action  Action `json:"action"`
	App     string `json:"app"`
	Env     string `json:"env"`
	Version string `json:"version"`
	// PreviousVersion is what ran in the environment when the run started:
	// the version a failed deploy rolls back to.
	PreviousVersion string `json:"previous_version,omitempty"`
	// RollbackOf is, for a rollback run, the run whose deployment it undoes.
	RollbackOf uint64 `json:"rollback_of,omitempty"`
	// Artifact is the executor's identity for what will be deployed (an
	// image digest, say), resolved before approval.
	Artifact  string `json:"artifact,omitempty"`
	Requester User   `json:"requester"`
	Reason    string `json:"reason,omitempty"`
	Emergency bool   `json:"emergency,omitempty"`
	Origin    Origin `json:"origin"`
	// StepHandle is what the running step recorded to re-attach to it (a
	// Jenkins build number).
	StepHandle string `json:"step_handle,omitempty"`
	// StopRequestedBy is who asked to stop the running step, for the
	// replica running it when another one took the request.
	StopRequestedBy *User       `json:"stop_requested_by,omitempty"`
	State           State       `json:"state"`
	Checklist       []CheckItem `json:"checklist,omitempty"`
	Approvals       []Approval  `json:"approvals,omitempty"`
	// Validation is the post-deployment validation people confirm while
	// the run is monitored; the run succeeds once it is all ticked and the
	// window is over (or someone ends monitoring).
	Validation []CheckItem `json:"validation,omitempty"`
	// Procedure is the handbook's rollback procedure of a rollback run in
	// an environment that follows it (rollback_procedure), in its order.
	Procedure []CheckItem `json:"procedure,omitempty"`
	// Calls are the occasions on which Shipmate calls people about the
	// run (its approvers, its requester), each recorded with the change
	// that calls for it and marked done once made (calls.go).
	Calls []Call `json:"calls,omitempty"`
	// AwaitingValidation is set when the monitoring window ended with
	// validation items open (the channel was told once).
	AwaitingValidation bool `json:"awaiting_validation,omitempty"`
	// Analysis is the post-deployment metric analysis: baselines taken
	// before the deploy step and the measurements since.
	Analysis *Analysis `json:"analysis,omitempty"`
	// Note is the latest human-readable word on the run (why it failed,
	// what it waits for).
	Note string `json:"note,omitempty"`
	// Log keeps the last lines of step output for the chat message; the
	// full output is in the event log.
	Log []string `json:"log,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// StateSince is when the run entered its state (moves to the state it
	// is in, as a checklist's ticks, keep it).
	StateSince time.Time `json:"state_since,omitzero"`
	// ExpiresAt is when a pending approval expires; RemindAt when the one
	// reminder is due (zero once sent).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RemindAt  time.Time `json:"remind_at,omitzero"`
	// MonitorUntil ends the monitoring window; NextHealthAt is the next
	// health check during it.
	// RecheckAt is when failing automated checks are evaluated again.
	RecheckAt    time.Time `json:"recheck_at,omitzero"`
	MonitorUntil time.Time `json:"monitor_until,omitzero"`
	NextHealthAt time.Time `json:"next_health_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
}

// InStateSince is when the run entered its state, for a run stored before
// that was kept: its last change.
func (r *Run) InStateSince() time.Time {
	if r.StateSince.IsZero() {
		return r.UpdatedAt
	}
	return r.StateSince
}

// Ref is the run's short reference as users type it.
func (r *Run) Ref() string { return fmt.Sprintf("#%d", r.ID) }

// Title is the one-line summary of what the run does.
func (r *Run) Title() string {
	if r.Action == ActionRollback {
		return fmt.Sprintf("Rollback %s → %s in %s", r.App, r.Version, r.Env)
	}
	return fmt.Sprintf("%s %s → %s", r.App, r.Version, r.Env)
}

// OpenItems returns the checklist items not yet ticked.
func (r *Run) OpenItems() []CheckItem { return notDone(r.Checklist) }

// Tickable is the list the run's message lets people tick now: the
// post-deployment validation while the run is monitored, else the
// pre-deployment checklist.
func (r *Run) Tickable() []CheckItem {
	if r.State == StateMonitoring && len(r.Validation) > 0 {
		return r.Validation
	}
	return r.Checklist
}

// OpenValidation returns the post-deployment validation items not yet
// ticked.
func (r *Run) OpenValidation() []CheckItem { return notDone(r.Validation) }

// notDone returns the items not ticked.
func notDone(items []CheckItem) []CheckItem {
	var open []CheckItem
	for _, it := range items {
		if !it.Done {
			open = append(open, it)
		}
	}
	return open
}

// Event is one entry of a run's audit trail. Events are only ever appended.
type Event struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	Actor  *User     `json:"actor,omitempty"`
	From   State     `json:"from,omitempty"`
	To     State     `json:"to,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Event types.
const (
	EvRequested  = "requested"
	EvTransition = "transition"
	EvTick       = "checklist_tick"
	EvApproval   = "approval"
	EvRejection  = "rejection"
	EvEmergency  = "emergency_override"
	EvOutput     = "output"
	EvStep       = "step"
	EvReminder   = "reminder"
	EvVoided     = "approvals_voided"
	EvNote       = "note"
	EvCheck      = "automated_check"
	EvCall       = "call"
)

// Lock is an explicit hold on an app in an environment (or on every app,
// App == "all"), or the implicit lock an active run holds.
type Lock struct {
	App    string    `json:"app"`
	Env    string    `json:"env"`
	Holder User      `json:"holder"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	RunID  uint64    `json:"run_id,omitempty"`
	// IncidentRun makes an explicit hold an incident freeze: the run that
	// rolled back during an incident and froze deploys until /deploy unfreeze.
	IncidentRun uint64 `json:"incident_run,omitempty"`
}

// Deployed is what currently runs for an app in an environment, as far as
// Shipmate knows.
type Deployed struct {
	Version string    `json:"version"`
	RunID   uint64    `json:"run_id"`
	At      time.Time `json:"at"`
}

// Landed returns the version that runs in the environment after this run
// finished, when the run changed it: a succeeded deploy leaves its version,
// a rolled-back deploy its previous one, a rollback its target.
func (r *Run) Landed() (string, bool) {
	switch {
	case r.State == StateSucceeded && r.Action == ActionDeploy:
		return r.Version, true
	case r.State == StateRolledBack && r.Action == ActionDeploy:
		return r.PreviousVersion, r.PreviousVersion != ""
	case r.State == StateRolledBack && r.Action == ActionRollback:
		return r.Version, true
	}
	return "", false
}

// Record is a run with its whole audit trail, as exported.
type Record struct {
	Run    *Run    `json:"run"`
	Events []Event `json:"events"`
}

// ReadRecord reads run id with its audit trail from s (never a null list
// of events, for the pages and tools that read it).
func ReadRecord(ctx context.Context, s Store, id uint64) (*Record, error) {
	r, err := s.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	evs, err := s.Events(ctx, id)
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []Event{}
	}
	return &Record{Run: r, Events: evs}, nil
}
