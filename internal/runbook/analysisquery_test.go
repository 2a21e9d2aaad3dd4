package runbook

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// Placeholders become literal label values: escaped for the string they
// are in, and for a regular expression after =~ or !~, so that no version
// or name can change what the query asks.
func TestExpandQuery(t *testing.T) {
	vars := map[string]string{"{app}": "demo", "{env}": "production", "{version}": "1.2+build.7"}
	for _, tc := range []struct{ name, q, want, err string }{
		{"label values", `rate(x{app="{app}",env='{env}',version="{version}"}[2m])`,
			`rate(x{app="demo",env='production',version="1.2+build.7"}[2m])`, ""},
		{"a regular expression matches the value only", `x{version=~"{version}"} or y{version !~ '{version}|old'}`,
			`x{version=~"1\\.2\\+build\\.7"} or y{version !~ '1\\.2\\+build\\.7|old'}`, ""},
		{"a raw string", "x{version=`{version}`}", "x{version=`1.2+build.7`}", ""},
		{"other braces are PromQL", `count_over_time(x{job="a{2}"}[1m]) # {app} in a comment`,
			`count_over_time(x{job="a{2}"}[1m]) # {app} in a comment`, ""},
		{"an escaped quote does not end the string", `x{a="say \"{app}\""}`, `x{a="say \"demo\""}`, ""},
		{"outside a string", `{app}_requests_total`, "", "{app} is outside a quoted string"},
		{"unclosed", `x{app="{app}}`, "", "not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expandQuery(tc.q, vars)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}

	hostile := map[string]string{"{app}": "a\"} or vector(1) #\n\\", "{env}": "x", "{version}": "`"}
	got, err := expandQuery(`x{app="{app}"}`, hostile)
	if want := `x{app="a\"} or vector(1) #\x0a\\"}`; err != nil || got != want {
		t.Errorf("hostile value: %q, %v; want %q", got, err, want)
	}
	if _, err := expandQuery("x{v=`{version}`}", hostile); err == nil {
		t.Error("a backquote inside a raw string was accepted")
	}
	if err := CheckQuery(`sum(rate(x{app="{app}"}[2m])) / {env}`); err == nil {
		t.Error("CheckQuery accepted {env} outside a string")
	}
}

// A measurement fails above max, or above the multiple of a baseline that
// had data and was above 0; without a usable baseline only max judges.
func TestVerdict(t *testing.T) {
	one := 0.01
	def := MetricCheck{Max: &one, MaxVsBaseline: 2, Format: FormatPercent}
	relOnly := MetricCheck{MaxVsBaseline: 1.5}
	base := func(v float64) *MetricState { return &MetricState{Baseline: reading(v)} }
	for _, tc := range []struct {
		name string
		def  MetricCheck
		st   *MetricState
		m    measurement
		want Verdict
		why  string
	}{
		{"within both", def, base(0.002), measurement{value: 0.003, ok: true}, VerdictPass, ""},
		{"above max", def, base(0.002), measurement{value: 0.02, ok: true}, VerdictFail, "above its max of 1%"},
		{"above twice the baseline", def, base(0.002), measurement{value: 0.005, ok: true}, VerdictFail, "above 2× its baseline"},
		{"no baseline: max only", def, &MetricState{}, measurement{value: 0.009, ok: true}, VerdictPass, ""},
		{"zero baseline: max only", def, base(0), measurement{value: 0.009, ok: true}, VerdictPass, ""},
		{"baseline already above max", def, base(0.03), measurement{value: 0.02, ok: true}, VerdictFail, "above its max of 1%"},
		{"relative only, no baseline", relOnly, &MetricState{}, measurement{value: 9, ok: true}, VerdictPass, ""},
		{"infinite latency", relOnly, base(0.2), measurement{value: math.Inf(1), ok: true}, VerdictFail, "above 1.5× its baseline"},
		{"no data", def, base(0.002), measurement{}, VerdictInconclusive, "no data"},
		{"query failed", def, base(0.002), measurement{err: errors.New("503")}, VerdictInconclusive, "the query failed: 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := verdict(tc.def, tc.st, tc.m)
			if got != tc.want || why != tc.why {
				t.Errorf("verdict %s (%q), want %s (%q)", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestFmtValue(t *testing.T) {
	for _, tc := range []struct {
		format string
		v      float64
		want   string
	}{
		{FormatPercent, 0.003, "0.3%"}, {FormatPercent, 0.0123456, "1.23%"}, {FormatPercent, 1, "100%"},
		{FormatMillis, 0.18, "180 ms"}, {FormatMillis, 0.0012345, "1.23 ms"}, {FormatMillis, 12.5, "12.5 s"},
		{FormatNumber, 1234.5, "1235"}, {FormatNumber, 0.000123456, "0.000123"}, {FormatNumber, 0, "0"},
		{FormatMillis, math.Inf(1), "+Inf s"},
	} {
		if got := fmtValue(tc.format, tc.v); got != tc.want {
			t.Errorf("fmtValue(%s, %v) = %q, want %q", tc.format, tc.v, got, tc.want)
		}
	}
}

// A run's analysis survives the store's JSON, infinities included.
func TestReadingJSON(t *testing.T) {
	in := Analysis{Checks: []MetricState{{Key: "latency", Baseline: reading(0.17), Value: reading(math.Inf(1))}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Analysis
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if *out.Checks[0].Baseline != 0.17 || !math.IsInf(float64(*out.Checks[0].Value), 1) {
		t.Errorf("read back %s as %+v", b, out.Checks[0])
	}
}
