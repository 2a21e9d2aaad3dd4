package config

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"shipmate/internal/runbook"
)

// rawMetricCheck is one check of the top-level analysis: block.
type rawMetricCheck struct {
	Query         string  `yaml:"query"`
	Max           *number `yaml:"max"`
	MaxVsBaseline *number `yaml:"max_vs_baseline"`
	Format        string  `yaml:"format"`
	Label         string  `yaml:"label"`
}

// maxCheckLabel bounds a check's label: it is one part of a line in chat.
const maxCheckLabel = 40

// number is a YAML number, such as a bound of a metric check.
type number float64

func (x *number) decodeYAML(d *decoder, n *yaml.Node, path string) error {
	s, err := d.scalar(n, path, "a number")
	if err != nil {
		return err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errorAt(n, path, "want a number such as 0.01, got %q", s)
	}
	*x = number(f)
	return nil
}

// buildAnalysis checks the metric checks of the post-deployment analysis,
// which need the prometheus: block. An unset ${PROMETHEUS_URL} leaves the
// analysis off: the checks are still checked, but nothing runs them.
func buildAnalysis(d *decoder, raw *rawConfig, c *Config) error {
	if url, _ := raw.Prometheus.Scalar("url"); url != "" {
		c.Prometheus = raw.Prometheus
	}
	if len(raw.Analysis) > 0 && raw.Prometheus == nil {
		return d.errorf("analysis", "needs the top-level prometheus: block (url: ${PROMETHEUS_URL}) to run its queries on")
	}
	c.Policy.Analysis = make(map[string]runbook.MetricCheck, len(raw.Analysis))
	for _, e := range raw.Analysis {
		path := join("analysis", e.Key)
		if !nameRE.MatchString(e.Key) {
			return d.errorf(path, "invalid analysis check key (%s)", nameRule)
		}
		check, err := buildMetricCheck(d, path, &e.Value)
		if err != nil {
			return err
		}
		c.Policy.Analysis[e.Key] = check
	}
	return nil
}

// buildMetricCheck checks one metric check: a query whose placeholders
// sit in strings, at least one bound, and how to show its values.
func buildMetricCheck(d *decoder, path string, r *rawMetricCheck) (runbook.MetricCheck, error) {
	check := runbook.MetricCheck{Label: r.Label, Query: r.Query, Format: r.Format}
	if strings.TrimSpace(r.Query) == "" {
		return check, d.errorf(join(path, "query"), "required: the PromQL query, such as 'sum(rate(http_requests_total{app=\"{app}\",code=~\"5..\"}[2m]))'")
	}
	if err := runbook.CheckQuery(r.Query); err != nil {
		return check, d.errorf(join(path, "query"), "%v", err)
	}
	if r.Max == nil && r.MaxVsBaseline == nil {
		return check, d.errorf(path, "give max, max_vs_baseline or both: the bound a measurement fails above")
	}
	if r.Max != nil {
		m := float64(*r.Max)
		check.Max = &m
	}
	if r.MaxVsBaseline != nil {
		if *r.MaxVsBaseline < 1 {
			return check, d.errorf(join(path, "max_vs_baseline"), "want a multiple of the baseline of at least 1, such as 2.0, got %v", float64(*r.MaxVsBaseline))
		}
		check.MaxVsBaseline = float64(*r.MaxVsBaseline)
	}
	switch r.Format {
	case "":
		check.Format = runbook.FormatNumber
	case runbook.FormatNumber, runbook.FormatPercent, runbook.FormatMillis:
	default:
		return check, d.errorf(join(path, "format"), "want %s (a ratio), %s (seconds) or %s, got %q",
			runbook.FormatPercent, runbook.FormatMillis, runbook.FormatNumber, r.Format)
	}
	if r.Label != "" && (strings.TrimSpace(r.Label) != r.Label || strings.ContainsAny(r.Label, "\r\n") || len([]rune(r.Label)) > maxCheckLabel) {
		return check, d.errorf(join(path, "label"), "want a short name on one line (at most %d characters), such as p95", maxCheckLabel)
	}
	return check, nil
}

// buildEnvAnalysis checks an environment's analysis keys: the checks it
// lists (which need a monitoring window to run in), how often they run
// and how many failures in a row roll back.
func buildEnvAnalysis(d *decoder, c *Config, path string, raw *rawEnv, env *runbook.Environment) error {
	rule := runbook.AnalysisRule{Every: runbook.DefaultAnalysisEvery, FailuresToRollback: runbook.DefaultFailuresToRollback}
	if raw.AnalysisEvery != nil {
		if *raw.AnalysisEvery == 0 {
			return d.errorf(join(path, "analysis_every"), "must be more than 0")
		}
		rule.Every = *raw.AnalysisEvery
	}
	if raw.FailuresToRollback != nil {
		if *raw.FailuresToRollback < 1 {
			return d.errorf(join(path, "failures_to_rollback"), "must be at least 1, got %d", *raw.FailuresToRollback)
		}
		rule.FailuresToRollback = *raw.FailuresToRollback
	}
	checks, err := analysisKeys(d, c, join(path, "analysis"), raw.Analysis)
	if err != nil {
		return err
	}
	if len(checks) > 0 && raw.Monitor <= 0 {
		return d.errorf(join(path, "analysis"), "runs during the monitoring window: set monitor, such as monitor: 30m")
	}
	rule.Checks = checks
	env.Analysis = rule
	return nil
}

// appAnalysis checks an app's own list of analysis checks, which replaces
// the environments' lists; nil when the app has none.
func appAnalysis(d *decoder, c *Config, path string, keys *[]string) ([]string, error) {
	if keys == nil {
		return nil, nil
	}
	checks, err := analysisKeys(d, c, join(path, "analysis"), *keys)
	if checks == nil {
		checks = []string{} // an empty list turns the analysis off for the app
	}
	return checks, err
}

// analysisKeys checks a list of analysis check keys: each defined under
// analysis:, once.
func analysisKeys(d *decoder, c *Config, path string, keys []string) ([]string, error) {
	for i, k := range keys {
		if _, ok := c.Policy.Analysis[k]; !ok {
			return nil, d.errorf(index(path, i), "unknown analysis check %q (define it under analysis:)", k)
		}
		if slices.Contains(keys[:i], k) {
			return nil, d.errorf(index(path, i), "duplicate analysis check %q", k)
		}
	}
	return keys, nil
}
