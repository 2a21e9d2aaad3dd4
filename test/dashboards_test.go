package test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"go.yaml.in/yaml/v3"

	"shipmate/internal/adapters/prometheus/promtest"
)

// The shipped rules pass promtool's checks and their own unit tests.
func TestAlertRulesPassPromtool(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// metricName matches the bot's metric names in a query.
var metricName = regexp.MustCompile(`\bshipmate_[a-z_]+\b`)

// TestDashboardAndAlertsQueryWhatTheBotExports runs a real Prometheus on
// a bot that has deployed, failed, rolled back, restored, waited for an
// approval and sent webhooks, loaded with the shipped alerting rules: every
// query of the Grafana dashboard and every rule runs without error, and
// every metric they name is one the bot exports.
func TestDashboardAndAlertsQueryWhatTheBotExports(t *testing.T) {
	t.Parallel()
	rcv := &hookReceiver{secret: "dash-secret", up: true}
	f := newFixture(t)
	f.top = rcv.serve(t, "/hooks")
	f.writeConfig()
	b := f.start()
	// A failure and its restore: the DORA keys, published at start, have
	// all four figures after the restart.
	b.waitState(b.request("bob", "/deploy demo v1 dev"), "succeeded")
	b.waitState(b.request("bob", "/deploy demo v2-fail dev"), "rolled_back")
	b.waitState(b.request("bob", "/deploy demo v3 dev"), "succeeded")
	if code, _ := b.terminate(); code != 0 {
		t.Fatalf("the bot exited %d on SIGTERM", code)
	}
	b = f.start()
	// An approval waited for, and a run left waiting.
	id := b.request("bob", "/deploy demo v3 staging")
	b.waitState(id, "checklist")
	b.mustAct(id, "bob", "tick", "merged")
	b.mustAct(id, "bob", "tick", "tests")
	b.waitState(id, "awaiting_approval")
	b.mustAct(id, "alice", "approve", "")
	b.waitState(id, "succeeded")
	b.waitState(b.request("bob", "/deploy demo v4 qa"), "awaiting_approval")

	exported := scrapeNames(t, b.addr)
	rules, err := filepath.Abs(filepath.Join("..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.StartWith(t, promtest.Config{Jobs: map[string][]string{"shipmate": {b.addr}}, RuleFiles: []string{rules}})

	queries := append(dashboardQueries(t), ruleQueries(t, rules)...)
	for _, q := range queries {
		for _, name := range metricName.FindAllString(q, -1) {
			if !exported[strings.TrimSuffix(name, "_bucket")] && !exported[name] {
				t.Errorf("%s names %s, which the bot does not export (it exports %v)", q, name, keys(exported))
			}
		}
		if _, _, _, err := prom.API().Query(context.Background(), q, time.Now()); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	// Prometheus evaluates the rules on the bot's metrics without error.
	prom.Eventually("every rule evaluated", 20*time.Second, func() bool {
		res, err := prom.API().Rules(context.Background(), nil)
		if err != nil || len(res.Groups) == 0 {
			return false
		}
		for _, r := range res.Groups[0].Rules {
			a, ok := r.(v1.AlertingRule)
			if !ok || a.Health != v1.RuleHealthGood {
				return false
			}
		}
		return true
	})
}

// scrapeNames reads the bot's /metrics and returns the metric names in it,
// a histogram by its own name.
func scrapeNames(t *testing.T, addr string) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(rest)[0]] = true
		}
	}
	return names
}

// dashboardQueries are the dashboard's queries, its variables filled in
// as Grafana would with "All" picked.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "shipmate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("deploy/grafana/shipmate.json: %v", err)
	}
	fill := strings.NewReplacer("$app", ".*", "$env", ".*", "$__rate_interval", "1m")
	var out []string
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			out = append(out, fill.Replace(target.Expr))
		}
	}
	if len(out) < 10 {
		t.Fatalf("the dashboard has %d queries", len(out))
	}
	return out
}

// ruleQueries are the expressions of the rules in file.
func ruleQueries(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
