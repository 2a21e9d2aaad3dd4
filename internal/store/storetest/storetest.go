// Package storetest is the contract every Shipmate store keeps: one suite of
// behaviours, run against each backend (bbolt, etcd) so that the bot can
// use either and notice no difference.
package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"shipmate/internal/runbook"
)

// Backend is everything the bot uses of its store: the engine's
// runbook.Store and what the chat adapters, the export and the upkeep add.
type Backend interface {
	runbook.Store
	// Once records key and reports whether this is its first sighting
	// within ttl of now.
	Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
	// Forget drops key, so that its next sighting is the first again (a
	// delivery whose action failed is acted on when retried).
	Forget(ctx context.Context, key string) error
	// Seen reports, only reading, whether a delivery's key is remembered
	// at now; a write claims the delivery its context carries.
	Seen(ctx context.Context, key string, now time.Time) (bool, error)
	// Locks returns the explicit locks, then the runs' locks (bot migrate
	// compares them).
	Locks(ctx context.Context) ([]runbook.Lock, error)
	RunRef(ctx context.Context, id uint64, name string) (string, bool, error)
	SetRunRef(ctx context.Context, id uint64, name, value string) error
	// Recent returns the newest runs of every app and environment, newest first.
	Recent(ctx context.Context, limit int) ([]*runbook.Run, error)
	// RunsPage returns one page of a listing (runbook.RunLister).
	RunsPage(ctx context.Context, q runbook.RunPage) ([]*runbook.Run, error)
	// Record returns a run with its whole audit trail.
	Record(ctx context.Context, id uint64) (*runbook.Record, error)
	// PruneRuns drops finished runs that ended before cutoff, keeping the
	// newest keep of each app and environment and the run behind what runs
	// now.
	PruneRuns(ctx context.Context, cutoff time.Time, keep int) (int, error)
	// PruneIdempotency drops the keys of Once that expired by now.
	PruneIdempotency(now time.Time) (int, error)
	Ping() error
	Close() error
}

// Open returns a fresh, empty backend for one test; it closes it when the
// test ends.
type Open func(tb testing.TB) Backend

// Run runs the contract suite, each case on a fresh backend from open.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s Backend)
	}{
		{"CreateRunAssignsIDsAndStoresRun", createRunAssignsIDs},
		{"CreateRunTakesRunLock", createRunTakesRunLock},
		{"HoldBlocksCreateRun", holdBlocksCreateRun},
		{"HoldAllBlocksEveryAppInEnv", holdAllBlocksEveryApp},
		{"SaveRunRejectsStaleCopy", saveRunRejectsStale},
		{"ConcurrentSavesOfSameRevision", concurrentSavesOfSameRev},
		{"ConcurrentWritesAllLand", concurrentWritesAllLand},
		{"SaveRunTerminalReleasesRunLock", terminalReleasesRunLock},
		{"FinishingOldRunKeepsNewerRunsLock", finishingOldRunKeepsLock},
		{"SaveRunRecordsLandedVersion", recordsLandedVersion},
		{"SucceededIndex", succeededIndex},
		{"EventsAppendInOrder", eventsAppendInOrder},
		{"HistoryNewestFirstPerAppAndEnv", historyNewestFirst},
		{"HistorySinceStopsAtTheWindow", historySinceStopsAtWindow},
		{"RunsPageWalksAnIndex", runsPageWalksAnIndex},
		{"LookUpOneLock", lookUpOneLock},
		{"NewestActiveCountsTheRest", newestActiveCountsTheRest},
		{"WriteClaimsItsDelivery", writeClaimsDelivery},
		{"FailedWriteLeavesDeliveryUnclaimed", failedWriteLeavesDeliveryUnclaimed},
		{"OneOfTwoConcurrentRetriesActs", oneRetryActs},
		{"ReleaseOnlyWhatWasJudged", releaseOnlyWhatWasJudged},
		{"LocksListsHoldsAndRunLocks", locksListsHoldsAndRunLocks},
		{"Once", once},
		{"Forget", forget},
		{"PruneIdempotency", pruneIdempotency},
		{"RunRefs", runRefs},
		{"RecentAndRecord", recentAndRecord},
		{"PruneRunsKeepsWhatIsStillNeeded", pruneRunsKeeps},
		{"Ping", func(t *testing.T, s Backend) {
			if err := s.Ping(); err != nil {
				t.Errorf("Ping: %v", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

// T0 has no monotonic reading and is in UTC, so it survives a JSON round
// trip unchanged.
var T0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

var (
	alice = runbook.User{Platform: "slack", ID: "U1", Person: "alice"}
	bob   = runbook.User{Platform: "slack", ID: "U2", Person: "bob"}
)

// NewRun is a requested deploy of app at version in env.
func NewRun(app, env, version string) *runbook.Run {
	return &runbook.Run{
		Action:    runbook.ActionDeploy,
		App:       app,
		Env:       env,
		Version:   version,
		Requester: alice,
		Reason:    "release",
		Origin:    runbook.Origin{Platform: "slack", Channel: "C1"},
		State:     runbook.StateRequested,
		CreatedAt: T0,
		UpdatedAt: T0,
	}
}

// Ev is an event of type typ at T0 by alice.
func Ev(typ string, from, to runbook.State) runbook.Event {
	return runbook.Event{At: T0, Type: typ, Actor: &alice, From: from, To: to}
}

func ev(typ string, from, to runbook.State) runbook.Event { return Ev(typ, from, to) }

// MustCreate creates r with evs, failing t if the store refuses.
func MustCreate(t testing.TB, s Backend, r *runbook.Run, evs ...runbook.Event) {
	t.Helper()
	if err := s.CreateRun(context.Background(), r, evs...); err != nil {
		t.Fatalf("CreateRun(%s/%s): %v", r.App, r.Env, err)
	}
}

// MustSave saves r with evs, failing t if the store refuses.
func MustSave(t testing.TB, s Backend, r *runbook.Run, evs ...runbook.Event) {
	t.Helper()
	if err := s.SaveRun(context.Background(), r, evs...); err != nil {
		t.Fatalf("SaveRun(%d): %v", r.ID, err)
	}
}

// Finish moves r to a terminal state and saves it.
func Finish(t testing.TB, s Backend, r *runbook.Run, st runbook.State) {
	t.Helper()
	from := r.State
	r.State, r.UpdatedAt, r.FinishedAt = st, r.UpdatedAt.Add(time.Minute), r.UpdatedAt.Add(time.Minute)
	MustSave(t, s, r, ev(runbook.EvTransition, from, st))
}

// IDs lists the runs' ids, in order.
func IDs(runs []*runbook.Run) []uint64 {
	out := []uint64{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

// ActiveIDs lists the ids of the store's unfinished runs, sorted.
func ActiveIDs(t testing.TB, s Backend) []uint64 {
	t.Helper()
	runs, err := s.ActiveRuns(context.Background())
	if err != nil {
		t.Fatalf("ActiveRuns: %v", err)
	}
	got := IDs(runs)
	slices.Sort(got)
	return got
}

// RunLock is the lock an active run r holds, but for its Reason text.
func RunLock(r *runbook.Run) runbook.Lock {
	return runbook.Lock{App: r.App, Env: r.Env, Holder: r.Requester, Since: r.CreatedAt, RunID: r.ID}
}

// IgnoreReason compares locks but for their Reason text.
var IgnoreReason = cmpopts.IgnoreFields(runbook.Lock{}, "Reason")

// LockedBy asserts that err is a *runbook.LockedError for want.
func LockedBy(t testing.TB, err error, want runbook.Lock, opts ...cmp.Option) {
	t.Helper()
	var le *runbook.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("error = %v, want a *runbook.LockedError", err)
	}
	if d := cmp.Diff(want, le.Lock, opts...); d != "" {
		t.Errorf("LockedError.Lock (-want +got):\n%s", d)
	}
}
