// Package commands turns chat text into deployment intents. It is a pure
// parser: no I/O, no clock, no knowledge of who is asking. Every verb is
// registered once in the verb table, which also produces the help text.
package commands

// Kind names what a user asked for.
type Kind string

// The intents Shipmate understands.
const (
	KindDeploy   Kind = "deploy"
	KindRollback Kind = "rollback"
	KindStatus   Kind = "status"
	KindHistory  Kind = "history"
	KindWhereIs  Kind = "whereis"
	KindLock     Kind = "lock"
	KindUnlock   Kind = "unlock"
	KindUnfreeze Kind = "unfreeze"
	KindCancel   Kind = "cancel"
	KindApprove  Kind = "approve"
	KindReject   Kind = "reject"
	KindHelp     Kind = "help"
	KindStats    Kind = "stats"
)

// AllApps is the app name a lock or unlock uses to mean every app in an
// environment.
const AllApps = "all"

// Intent is one parsed command. Only the fields its Kind uses are set.
type Intent struct {
	Kind Kind
	App  string
	// Version is the version to deploy, or for a rollback the version to go
	// back to (empty: the last good one before the current).
	Version string
	// Env is the canonical environment name (aliases already resolved).
	Env string
	// RunID is the run a cancel, approve or reject acts on.
	RunID uint64
	// Reason is free text: --reason for deploy and rollback, the trailing
	// words of lock and reject.
	Reason    string
	DryRun    bool
	Emergency bool
	// Incident marks a rollback asked for during an incident: deploys of
	// the app there stay frozen until someone lifts the freeze.
	Incident bool
	// Days is how many days back stats look (--days; DefaultStatsDays
	// when not given).
	Days int
}

// Result is what Parse returns: an intent to act on, or a reply to give the
// user straight away (a usage line, an error, the help text), or neither when
// the text is not addressed to Shipmate.
type Result struct {
	Intent *Intent
	// Reply is set when the text was a Shipmate command that needs no action
	// (help) or could not be understood (then Err is true).
	Reply string
	Err   bool
}

// Ignored reports whether the text was not a Shipmate command at all.
func (r Result) Ignored() bool { return r.Intent == nil && r.Reply == "" }

// Env describes one environment as the parser needs it: its canonical name
// and the aliases users may type.
type Env struct {
	Name    string
	Aliases []string
}
