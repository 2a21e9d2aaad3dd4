package runbook

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// How a metric check's values are shown.
const (
	FormatNumber  = "number"
	FormatPercent = "percent" // a ratio, shown as a percentage
	FormatMillis  = "ms"      // seconds, shown in milliseconds
)

// MetricCheck is one metric of the post-deployment analysis: a query and
// its bounds. A measurement fails when its value is above Max, or above
// MaxVsBaseline times the baseline (when the baseline had data and was
// above 0).
type MetricCheck struct {
	// Label names the metric in the run's message (default: its key).
	Label string
	// Query is PromQL; {app}, {env} and {version} inside its strings are
	// replaced by the run's (escaped). The baseline's {version} is the
	// version that ran before.
	Query string
	// Max is the absolute bound (nil: none).
	Max *float64
	// MaxVsBaseline is the bound as a multiple of the baseline (0: none).
	MaxVsBaseline float64
	// Format is FormatNumber, FormatPercent or FormatMillis.
	Format string
}

// Verdict is what one measurement of a check found.
type Verdict string

// Verdicts. An inconclusive measurement (no data, a failed query) is never
// a pass, and never counts towards a rollback either.
const (
	VerdictPass         Verdict = "pass"
	VerdictFail         Verdict = "fail"
	VerdictInconclusive Verdict = "inconclusive"
)

// MetricState is one check of a run's analysis.
type MetricState struct {
	Key string `json:"key"`
	// Baseline is the value before the deploy; nil when there was none,
	// and NoBaseline says why.
	Baseline   *Reading `json:"baseline,omitempty"`
	NoBaseline string   `json:"no_baseline,omitempty"`
	// Value is the latest conclusive value. Verdict and Why are those of
	// the latest measurement (Why: what was wrong or missing).
	Value   *Reading `json:"value,omitempty"`
	Verdict Verdict  `json:"verdict,omitempty"`
	Why     string   `json:"why,omitempty"`
	// Runs counts the measurements, Conclusive those with a value, and
	// Failures those that failed.
	Runs       int `json:"runs,omitempty"`
	Conclusive int `json:"conclusive,omitempty"`
	Failures   int `json:"failures,omitempty"`
	// Failing and Passing count the latest conclusive measurements in a
	// row that failed, or passed; inconclusive ones are skipped.
	Failing int `json:"failing,omitempty"`
	Passing int `json:"passing,omitempty"`
}

// green reports whether the check may confirm its validation item: its
// last n conclusive measurements all passed.
func (s *MetricState) green(n int) bool { return s.Passing >= n }

// Reading is a measured value. JSON has no infinities, which a query can
// return (a latency quantile above the highest bucket): they are stored as
// the strings "+Inf" and "-Inf".
type Reading float64

// MarshalJSON writes r as a number, or an infinity as a string.
func (r Reading) MarshalJSON() ([]byte, error) {
	if f := float64(r); math.IsInf(f, 0) || math.IsNaN(f) {
		return json.Marshal(strconv.FormatFloat(f, 'g', -1, 64))
	}
	return json.Marshal(float64(r))
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Reading) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		f, err := strconv.ParseFloat(s, 64)
		*r = Reading(f)
		return err
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*r = Reading(f)
	return err
}

func reading(v float64) *Reading { r := Reading(v); return &r }

// measurement is one query's result.
type measurement struct {
	key   string
	value float64
	ok    bool
	err   error
}

// verdict judges measurement m of the check def whose state is st.
func verdict(def MetricCheck, st *MetricState, m measurement) (Verdict, string) {
	switch {
	case m.err != nil:
		return VerdictInconclusive, "the query failed: " + m.err.Error()
	case !m.ok:
		return VerdictInconclusive, "no data"
	case def.Max != nil && m.value > *def.Max:
		return VerdictFail, "above its max of " + fmtValue(def.Format, *def.Max)
	case def.MaxVsBaseline > 0 && st.Baseline != nil && *st.Baseline > 0 && m.value > def.MaxVsBaseline*float64(*st.Baseline):
		return VerdictFail, fmt.Sprintf("above %s× its baseline", fmtNumber(def.MaxVsBaseline))
	}
	return VerdictPass, ""
}
