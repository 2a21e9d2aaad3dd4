package runbook

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// analysisField is the live line of r's analysis on its message, e.g.
// "monitoring 12/30 min · errors 0.3% (baseline 0.2%) · p95 180 ms
// (baseline 170 ms)": the baselines while the deploy runs, the latest
// figures while monitored (edited in place at each measurement), and the
// last ones once the run has ended.
func (e *Engine) analysisField(r *Run) (Field, bool) {
	a := r.Analysis
	if a == nil || len(a.Checks) == 0 {
		return Field{}, false
	}
	var parts []string
	switch {
	case a.Since.IsZero():
		for i := range a.Checks {
			parts = append(parts, e.checkLabel(a.Checks[i].Key)+" "+e.baselineValue(&a.Checks[i]))
		}
		return Field{Label: "Analysis", Value: "before the deploy: " + strings.Join(parts, " · ")}, true
	case r.State == StateMonitoring && e.now().Before(r.MonitorUntil):
		parts = append(parts, "monitoring "+progress(e.now().Sub(a.Since), r.MonitorUntil.Sub(a.Since)))
	case r.State == StateMonitoring:
		parts = append(parts, "window over")
	}
	for i := range a.Checks {
		st := &a.Checks[i]
		s := e.checkSummary(st)
		if st.Verdict == VerdictFail {
			s += fmt.Sprintf(" ✗ %d in a row", st.Failing)
		}
		parts = append(parts, s)
	}
	return Field{Label: "Analysis", Value: strings.Join(parts, " · ")}, true
}

// progress is how far into a window of length window elapsed is: "12/30
// min", or in seconds for a window that is not a whole number of minutes.
func progress(elapsed, window time.Duration) string {
	elapsed = min(max(elapsed, 0), window)
	if window >= time.Minute && window%time.Minute == 0 {
		return fmt.Sprintf("%d/%d min", int(elapsed/time.Minute), int(window/time.Minute))
	}
	return fmt.Sprintf("%s/%s", elapsed.Truncate(time.Second), window.Truncate(time.Second))
}

// checkLabel is what the live line calls check key.
func (e *Engine) checkLabel(key string) string {
	if l := e.policy.Analysis[key].Label; l != "" {
		return l
	}
	return key
}

// baselineValue is a check's baseline: its value, or why there is none.
func (e *Engine) baselineValue(st *MetricState) string {
	switch {
	case st.Baseline != nil:
		return fmtValue(e.policy.Analysis[st.Key].Format, float64(*st.Baseline))
	case strings.HasPrefix(st.NoBaseline, "the query failed"):
		return "none (the query failed)"
	}
	return "none (no data)"
}

// baselineText is a check's baseline as its figures show it.
func (e *Engine) baselineText(st *MetricState) string {
	if st.Baseline == nil {
		return "(no baseline: " + strings.TrimSuffix(strings.TrimPrefix(e.baselineValue(st), "none ("), ")") + ")"
	}
	return "(baseline " + e.baselineValue(st) + ")"
}

// checkSummary is a check's latest figures: "errors 0.3% (baseline
// 0.2%)", or what kept the latest measurement from having any.
func (e *Engine) checkSummary(st *MetricState) string {
	now := "pending"
	switch {
	case st.Verdict == VerdictInconclusive && strings.HasPrefix(st.Why, "the query failed"):
		now = "inconclusive (the query failed)"
	case st.Verdict == VerdictInconclusive:
		now = "inconclusive (no data)"
	case st.Value != nil:
		now = fmtValue(e.policy.Analysis[st.Key].Format, float64(*st.Value))
	}
	return e.checkLabel(st.Key) + " " + now + " " + e.baselineText(st)
}

// verdictSuffix says what the latest measurement of a check found, for
// its audit trail.
func verdictSuffix(st *MetricState) string {
	switch st.Verdict {
	case VerdictPass:
		return ": passes"
	case VerdictFail:
		return ": fails, " + st.Why
	}
	return ": " + st.Why
}

// bounds says what a check holds its values to: "max 1%, at most 2× the
// baseline".
func (e *Engine) bounds(key string) string {
	def := e.policy.Analysis[key]
	var out []string
	if def.Max != nil {
		out = append(out, "max "+fmtValue(def.Format, *def.Max))
	}
	if def.MaxVsBaseline > 0 {
		out = append(out, "at most "+fmtNumber(def.MaxVsBaseline)+"× the baseline")
	}
	return strings.Join(out, ", ")
}

// itemDetail is what a validation item confirmed by a check shows: its
// figures, its bounds and how its measurements went.
func (e *Engine) itemDetail(st *MetricState, n int) string {
	var how string
	switch {
	case st.Conclusive == 0:
		how = fmt.Sprintf("inconclusive: %s in all %d measurements so far", st.Why, st.Runs)
	case st.green(n):
		how = fmt.Sprintf("the last %d conclusive measurements passed (%d of %d conclusive, %d failed)", n, st.Conclusive, st.Runs, st.Failures)
	default:
		how = fmt.Sprintf("%d passed in a row so far, %d needed (%d of %d conclusive, %d failed)",
			st.Passing, n, st.Conclusive, st.Runs, st.Failures)
	}
	return fmt.Sprintf("%s; %s; %s", e.checkSummary(st), e.bounds(st.Key), how)
}

// holdNotice asks the rollback owners of a run held on failure to decide,
// after its analysis failed.
func (e *Engine) holdNotice(r *Run, env *Environment, breaches []string) string {
	text := fmt.Sprintf("Run %s (%s): the post-deployment analysis fails: %s. %s is held for a human on failure (on_failure: hold), so Shipmate does not roll it back: %s, ",
		r.Ref(), r.Title(), strings.Join(breaches, "; "), r.App, ownerList(env.Rollback))
	if r.PreviousVersion == "" {
		return text + "there is nothing to roll back to: this was its first deployment here."
	}
	return text + fmt.Sprintf("roll it back to %s with the button below when ready.", r.PreviousVersion)
}

// analysisPending names the validation items Shipmate could not confirm
// yet, and why, for the notice at the end of the window.
func (e *Engine) analysisPending(r *Run) string {
	if r.Analysis == nil {
		return ""
	}
	var out []string
	for _, it := range r.Validation {
		if st := r.Analysis.state(it.Key); it.Auto && !it.Done && st != nil {
			out = append(out, fmt.Sprintf("“%s”: %s", it.Label, e.checkSummary(st)))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " Shipmate's analysis has not confirmed " + strings.Join(out, "; ") +
		" (it goes on measuring; an item it confirms cannot be ticked by hand)."
}

// fmtValue shows v in format: a ratio as a percentage, seconds in
// milliseconds (seconds from 10 s up), anything else as a number.
func fmtValue(format string, v float64) string {
	switch format {
	case FormatPercent:
		return fmtNumber(v*100) + "%"
	case FormatMillis:
		if math.Abs(v) >= 10 {
			return fmtNumber(v) + " s"
		}
		return fmtNumber(v*1000) + " ms"
	}
	return fmtNumber(v)
}

// fmtNumber shows x with three significant digits at most, and no
// exponent.
func fmtNumber(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	case x == 0:
		return "0"
	case math.Abs(x) >= 1000:
		return strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}
