package runbook

import (
	"slices"
	"time"
)

// Special role names.
const (
	// RoleRequester, in an environment's rollback owners, means whoever
	// requested the deployment being rolled back.
	RoleRequester = "requester"
	// RoleBreakGlass may deploy outside an environment's windows with
	// --emergency and a reason.
	RoleBreakGlass = "break-glass"
)

// Defaults for pending approvals.
const (
	DefaultApprovalExpiry = 24 * time.Hour
	DefaultHealthEvery    = time.Minute
)

// Policy is the whole rule book: who is who, the checklist, the
// environments in promotion order and the apps.
type Policy struct {
	// People names each person once with their identities on every chat
	// platform, so that one person is one person everywhere.
	People    map[string]Person
	Roles     map[string]Role
	Checklist map[string]string // item key → label
	// Validation labels the post-deployment validation items by key.
	Validation map[string]string
	Envs       []Environment
	Apps       map[string]App

	// Analysis defines the metric checks of the post-deployment analysis
	// by key; a check confirms the validation item of the same key.
	Analysis map[string]MetricCheck
}

// Person is one human's identities: platform → user ids.
type Person struct {
	IDs map[string][]string
}

// Role lists a role's members: people (with every identity they have), and
// per chat platform user ids and group ids that a platform's GroupResolver
// expands.
type Role struct {
	People  []string
	Members map[string][]string
	Groups  map[string][]string
}

// Environment is one deployment target and its rules.
type Environment struct {
	Name      string
	Aliases   []string
	Deployers []string // roles that may request deployments
	Approval  ApprovalRule
	Checklist []string // item keys that must be ticked before approval
	// Validation are the keys of the post-deployment validation people
	// confirm while a deployment is monitored.
	Validation []string
	Requires   string   // environment where the same version must have succeeded first
	Windows    []Window // empty: any time
	Freezes    []Freeze // calendar periods when deployments are refused
	Monitor    time.Duration
	// HealthEvery is how often health is checked while monitoring.
	HealthEvery time.Duration
	Rollback    []string // rollback owners: roles, or RoleRequester
	// Analysis is the metric analysis of monitored deployments.
	Analysis AnalysisRule
	// NotifyApprovers is how a run waiting for approval calls its
	// approvers: NotifyMention (the default, also for "") or NotifyDM.
	NotifyApprovers string
	// RollbackProcedure makes /rollback and the Roll back button follow
	// the handbook's rollback procedure instead of rolling back at once.
	RollbackProcedure bool
}

// ApprovalRule says who must approve a deployment. Count 0 means no approval.
type ApprovalRule struct {
	Roles     []string
	Count     int
	AllowSelf bool
	Expires   time.Duration // a pending approval expires after this
	Remind    time.Duration // the one reminder comes this long before expiry
}

// App is a deployable application.
type App struct {
	Name     string
	Executor string
	// HoldOnFailure leaves a failed deployment for a human instead of
	// rolling back automatically.
	HoldOnFailure bool
	// Checks are the checklist items the app's Checker checks itself.
	Checks []string
	// Analysis, when not nil, replaces the environments' metric checks
	// for this app (empty: none).
	Analysis []string
}

// Env returns the environment named name.
func (p *Policy) Env(name string) (*Environment, bool) {
	for i := range p.Envs {
		if p.Envs[i].Name == name {
			return &p.Envs[i], true
		}
	}
	return nil, false
}

// AppNames returns the app names, sorted.
func (p *Policy) AppNames() []string {
	names := make([]string, 0, len(p.Apps))
	for n := range p.Apps {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// remindAt is when the reminder for an approval requested at t is due.
func (a ApprovalRule) remindAt(expires time.Time) time.Time {
	ttl := a.expiry()
	rem := a.Remind
	if rem <= 0 || rem >= ttl {
		rem = min(time.Hour, ttl/2)
	}
	return expires.Add(-rem)
}

// expiry returns the approval lifetime, defaulted.
func (a ApprovalRule) expiry() time.Duration {
	if a.Expires <= 0 {
		return DefaultApprovalExpiry
	}
	return a.Expires
}
