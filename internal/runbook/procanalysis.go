package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// rollbackAnalysis measures, once, the analysis checks that watch deploys
// of r's app to its environment, against the version r rolled back to.
// Each is judged against the baseline the rolled-back deploy took just
// before it started: what ran then, which is what runs again now. It
// returns the figures, and an error naming the checks that failed or had
// no data (never a pass); with no checks it returns "", nil.
func (e *Engine) rollbackAnalysis(ctx context.Context, r *Run) (string, error) {
	env, ok := e.policy.Env(r.Env)
	if !ok {
		return "", nil
	}
	keys := e.analysisChecks(r.App, env)
	if len(keys) == 0 {
		return "", nil
	}
	baselines := e.baselinesOf(ctx, r.RollbackOf)
	var parts, bad []string
	for _, m := range e.measure(ctx, keys, queryVars(r.App, r.Env, r.Version), e.now()) {
		st, ok := baselines[m.key]
		if !ok {
			st = MetricState{Key: m.key, NoBaseline: "no data"}
		}
		st.Runs = 1
		st.Verdict, st.Why = verdict(e.policy.Analysis[m.key], &st, m)
		if st.Verdict != VerdictInconclusive {
			st.Value = reading(m.value)
		}
		parts = append(parts, e.checkSummary(&st)+verdictSuffix(&st))
		if st.Verdict != VerdictPass {
			bad = append(bad, e.checkLabel(m.key))
		}
	}
	figures := "analysis of " + r.Version + ": " + strings.Join(parts, "; ")
	if len(bad) > 0 {
		verb := "are"
		if len(bad) == 1 {
			verb = "is"
		}
		return figures, fmt.Errorf("%s %s not back to normal after the rollback (%s)", joinAnd(bad), verb, figures)
	}
	return figures, nil
}

// baselinesOf are the baselines run id took before its deploy step, by
// check; none when it took none or cannot be read.
func (e *Engine) baselinesOf(ctx context.Context, id uint64) map[string]MetricState {
	out := map[string]MetricState{}
	if id == 0 {
		return out
	}
	orig, err := e.store.Run(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrRunNotFound) {
			e.log.Error().Err(err).Uint64("run", id).Msg("read the deploy rolled back, for its analysis baselines")
		}
		return out
	}
	if orig.Analysis != nil {
		for _, st := range orig.Analysis.Checks {
			out[st.Key] = MetricState{Key: st.Key, Baseline: st.Baseline, NoBaseline: st.NoBaseline}
		}
	}
	return out
}
