package runbook

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Analyzer evaluates the metric queries of the post-deployment analysis
// (a Prometheus server). Without one no analysis runs, and every
// post-deployment validation item is confirmed by hand.
type Analyzer interface {
	// Query evaluates the instant query q at time at. ok is false when
	// there is no data (no series, or NaN); err is set when the query
	// could not be evaluated (the server is down or refuses it, or it
	// returned more than one series).
	Query(ctx context.Context, q string, at time.Time) (value float64, ok bool, err error)
}

// AnalysisLinker is implemented by analyzers that can point at a query's
// graph; confirmed validation items then link to it.
type AnalysisLinker interface {
	Link(q string) string
}

// Defaults of the post-deployment analysis.
const (
	DefaultAnalysisEvery      = time.Minute
	DefaultFailuresToRollback = 3
)

// analysisTimeout bounds one query: a Prometheus that hangs makes the
// measurement inconclusive rather than holding the run.
const analysisTimeout = 15 * time.Second

// AnalysisRule says which metric checks watch an environment's monitored
// deployments, how often they run, and how many failures in a row of one
// check roll the deployment back.
type AnalysisRule struct {
	Checks             []string
	Every              time.Duration
	FailuresToRollback int
}

func (a AnalysisRule) every() time.Duration {
	if a.Every <= 0 {
		return DefaultAnalysisEvery
	}
	return a.Every
}

func (a AnalysisRule) failures() int {
	if a.FailuresToRollback <= 0 {
		return DefaultFailuresToRollback
	}
	return a.FailuresToRollback
}

// Analysis is the post-deployment analysis of a deploy, stored with its
// run: each check's baseline, taken just before the deploy step, and how
// its measurements went since.
type Analysis struct {
	BaselineAt time.Time `json:"baseline_at"`
	// Since is when monitoring began; NextAt is when the checks run next.
	Since  time.Time     `json:"since,omitzero"`
	NextAt time.Time     `json:"next_at,omitzero"`
	Checks []MetricState `json:"checks"`
}

// analysisChecks are the keys of the metric checks that watch deploys of
// app to env (an app's own list replaces the environment's), when
// Shipmate has an analyzer.
func (e *Engine) analysisChecks(app string, env *Environment) []string {
	if e.analyzer == nil || env == nil {
		return nil
	}
	keys := env.Analysis.Checks
	if a, ok := e.policy.Apps[app]; ok && a.Analysis != nil {
		keys = a.Analysis
	}
	var out []string
	for _, k := range keys {
		if _, ok := e.policy.Analysis[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// analyzes reports whether check key watches deploys of app to env, so
// that Shipmate confirms the validation item of that key, not a person.
func (e *Engine) analyzes(app string, env *Environment, key string) bool {
	return slices.Contains(e.analysisChecks(app, env), key)
}

// queryVars are the placeholders' values for a query about app in env
// running version.
func queryVars(app, env, version string) map[string]string {
	return map[string]string{"{app}": app, "{env}": env, "{version}": version}
}

// measure runs the checks keys side by side at time at, each bounded by
// analysisTimeout.
func (e *Engine) measure(ctx context.Context, keys []string, vars map[string]string, at time.Time) []measurement {
	out := make([]measurement, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		out[i].key = k
		def, ok := e.policy.Analysis[k]
		if !ok {
			out[i].err = fmt.Errorf("the configuration has no analysis check %q", k)
			continue
		}
		q, err := expandQuery(def.Query, vars)
		if err != nil {
			out[i].err = err
			continue
		}
		wg.Go(func() {
			qctx, cancel := context.WithTimeout(ctx, analysisTimeout)
			defer cancel()
			m := &out[i]
			m.value, m.ok, m.err = e.analyzer.Query(qctx, q, at)
			if m.err != nil {
				m.ok, m.err = false, e.redact.err(m.err)
			} else if math.IsNaN(m.value) {
				m.ok = false
			}
		})
	}
	wg.Wait()
	return out
}

// takeBaseline measures r's checks just before its deploy step, with
// {version} naming what ran before, and stores them as the baselines the
// monitoring window is judged against.
func (e *Engine) takeBaseline(ctx context.Context, r *Run, env *Environment) []Event {
	r.Analysis = nil
	keys := e.analysisChecks(r.App, env)
	if len(keys) == 0 {
		return nil
	}
	now := e.now()
	a := &Analysis{BaselineAt: now}
	var parts []string
	for _, m := range e.measure(ctx, keys, queryVars(r.App, r.Env, r.PreviousVersion), now) {
		st := MetricState{Key: m.key}
		switch {
		case m.err != nil:
			st.NoBaseline = "the query failed: " + m.err.Error()
		case !m.ok:
			st.NoBaseline = "no data"
		default:
			st.Baseline = reading(m.value)
		}
		a.Checks = append(a.Checks, st)
		parts = append(parts, e.checkLabel(m.key)+" "+e.baselineValue(&st))
	}
	r.Analysis = a
	return []Event{e.event(EvCheck, &Shipmate, "analysis baseline before the deploy: "+strings.Join(parts, "; "))}
}

// analysisStarts schedules the first measurements of a run that is now
// monitored.
func (e *Engine) analysisStarts(r *Run, env *Environment, now time.Time) {
	if r.Analysis != nil {
		r.Analysis.Since, r.Analysis.NextAt = now, now.Add(env.Analysis.every())
	}
}

// analyzeIfDue measures a monitored run's checks in the background when
// they are due: slow queries hold up no other run, and no tick.
func (e *Engine) analyzeIfDue(r *Run, now time.Time) {
	a := r.Analysis
	if e.analyzer == nil || r.State != StateMonitoring || a == nil || a.NextAt.IsZero() || now.Before(a.NextAt) {
		return
	}
	id, app, env, vars := r.ID, r.App, r.Env, queryVars(r.App, r.Env, r.Version)
	keys := make([]string, len(a.Checks))
	for i, st := range a.Checks {
		keys[i] = st.Key
	}
	e.aside(id, "analysis", func(ctx context.Context) {
		ms := e.measure(ctx, keys, vars, e.now())
		if ctx.Err() != nil {
			return
		}
		for _, m := range ms {
			e.obs.Step(app, env, "analysis", 0, m.err)
		}
		if err := e.recordAnalysis(ctx, id, ms); err != nil && !errors.Is(err, errMovedOn) && ctx.Err() == nil {
			e.log.Error().Err(err).Uint64("run", id).Msg("record the analysis")
		}
	})
}

// recordAnalysis judges one round of measurements of run id. N failures in
// a row of a check fail the deployment as a failed health check does: it
// rolls back, or, when the app holds failures for a human, it is left as
// it is and its rollback owners are told in the channel, with a Roll back
// button. Once the window is over, green checks confirm their validation
// items.
func (e *Engine) recordAnalysis(ctx context.Context, id uint64, ms []measurement) error {
	notice := ""
	r, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		notice = "" // fn may run again on a newer revision
		if r.State != StateMonitoring || r.Analysis == nil {
			return nil, errMovedOn
		}
		env, err := e.env(r.Env)
		if err != nil {
			return nil, err
		}
		n := env.Analysis.failures()
		r.Analysis.NextAt = e.now().Add(env.Analysis.every())
		evs := e.judge(r, ms)
		e.describeItems(r, n)
		if breaches := e.breaches(r, n); len(breaches) > 0 {
			if e.policy.Apps[r.App].HoldOnFailure {
				notice = e.holdNotice(r, env, breaches)
			}
			return append(evs, e.fail(r, errors.New("analysis: "+strings.Join(breaches, "; ")))...), nil
		}
		if !e.now().Before(r.MonitorUntil) {
			evs = append(evs, e.confirmAnalysis(r)...)
			if r.AwaitingValidation && len(r.OpenValidation()) == 0 {
				evs = append(evs, e.move(r, StateSucceeded, nil, e.liveNote(r, "its post-deployment validation is complete")))
			}
		}
		return evs, nil
	})
	if err != nil {
		return err
	}
	if r.State == StateRollingBack {
		e.kick(id, false)
	}
	if notice != "" {
		e.notify(ctx, r, notice, rollbackButtons(r)...)
	}
	return nil
}

// judge records measurements ms on r's checks and returns the events of
// the verdicts that changed.
func (e *Engine) judge(r *Run, ms []measurement) []Event {
	var evs []Event
	for _, m := range ms {
		st := r.Analysis.state(m.key)
		if st == nil {
			continue
		}
		before := st.Verdict
		def := e.policy.Analysis[m.key]
		st.Runs++
		st.Verdict, st.Why = verdict(def, st, m)
		switch st.Verdict {
		case VerdictPass:
			st.Conclusive++
			st.Value, st.Passing, st.Failing = reading(m.value), st.Passing+1, 0
		case VerdictFail:
			st.Conclusive++
			st.Failures++
			st.Value, st.Failing, st.Passing = reading(m.value), st.Failing+1, 0
		}
		if st.Verdict != before {
			evs = append(evs, e.event(EvCheck, &Shipmate, "analysis: "+e.checkSummary(st)+verdictSuffix(st)))
		}
	}
	return evs
}

// breaches describes the checks of r that failed n times in a row.
func (e *Engine) breaches(r *Run, n int) []string {
	var out []string
	for i := range r.Analysis.Checks {
		if st := &r.Analysis.Checks[i]; st.Failing >= n {
			out = append(out, fmt.Sprintf("%s, %s in %d conclusive measurements in a row", e.checkSummary(st), st.Why, st.Failing))
		}
	}
	return out
}

// confirmAnalysis confirms, as Shipmate, the open validation items whose
// checks are green: their last N conclusive measurements passed (N being
// failures_to_rollback). A check that never had data confirms nothing.
func (e *Engine) confirmAnalysis(r *Run) []Event {
	if r.Analysis == nil {
		return nil
	}
	env, ok := e.policy.Env(r.Env)
	if !ok {
		return nil
	}
	n := env.Analysis.failures()
	var evs []Event
	for i := range r.Validation {
		it := &r.Validation[i]
		st := r.Analysis.state(it.Key)
		if !it.Auto || it.Done || st == nil || !st.green(n) {
			continue
		}
		it.Done, it.By, it.At = true, &Shipmate, e.now()
		it.Detail = e.itemDetail(st, n)
		evs = append(evs, e.event(EvTick, &Shipmate, fmt.Sprintf("confirmed %q (post-deployment validation): %s", it.Label, it.Detail)))
	}
	return evs
}

// describeItems brings the details of r's open analysed validation items
// up to date with the latest measurements.
func (e *Engine) describeItems(r *Run, n int) {
	for i := range r.Validation {
		it := &r.Validation[i]
		if st := r.Analysis.state(it.Key); it.Auto && !it.Done && st != nil {
			it.Detail = e.itemDetail(st, n)
			if l, ok := e.analyzer.(AnalysisLinker); ok {
				if q, err := expandQuery(e.policy.Analysis[it.Key].Query, queryVars(r.App, r.Env, r.Version)); err == nil {
					it.Link = l.Link(q)
				}
			}
		}
	}
}

// state returns the check key of the analysis, or nil.
func (a *Analysis) state(key string) *MetricState {
	for i := range a.Checks {
		if a.Checks[i].Key == key {
			return &a.Checks[i]
		}
	}
	return nil
}

// rollbackButtons is the Roll back button of r's message, alone, for a
// notice that asks its rollback owners to decide.
func rollbackButtons(r *Run) []Button {
	var out []Button
	for _, b := range buttons(r) {
		if b.Action == ButtonRollback {
			out = append(out, b)
		}
	}
	return out
}
