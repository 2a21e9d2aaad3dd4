package test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"shipmate/internal/adapters/prometheus/promtest"
)

// analysedRun is what GET /api/runs/{id} says of a run's post-deployment
// validation.
type analysedRun struct {
	Run struct {
		State      string `json:"state"`
		Note       string `json:"note"`
		Validation []struct {
			Key    string `json:"key"`
			Done   bool   `json:"done"`
			By     *user  `json:"by"`
			Auto   bool   `json:"auto"`
			Detail string `json:"detail"`
			Link   string `json:"link"`
		} `json:"validation"`
	} `json:"run"`
	Events []event `json:"events"`
}

// TestAnalysisThroughPrometheus runs the built bot with the
// post-deployment analysis on a real Prometheus, which scrapes a service
// whose errors the test sets: canary monitors for 4 seconds, measuring
// its error ratio every second. A clean deploy shows the live line on its
// message and has its validation confirmed by Shipmate; an error spike
// rolls the next one back.
func TestAnalysisThroughPrometheus(t *testing.T) {
	t.Parallel()
	f, svc, prom := analysedFixture(t)
	b := f.start()

	read := func(id uint64) analysedRun {
		t.Helper()
		var r analysedRun
		if code := b.do("GET", fmt.Sprintf("/api/runs/%d", id), nil, &r); code != http.StatusOK {
			t.Fatalf("GET /api/runs/%d: status %d", id, code)
		}
		return r
	}

	id := b.request("bob", "/deploy demo v1 canary")
	eventually(t, stateTimeout, "the live line on run #1's message", func() (bool, string) {
		line := analysisLine(t, b, id)
		return strings.HasPrefix(line, "monitoring ") && strings.Contains(line, "errors 1% (baseline 1%)"), line
	})
	b.waitState(id, "succeeded")
	r := read(id)
	if len(r.Run.Validation) != 1 {
		t.Fatalf("validation %+v", r.Run.Validation)
	}
	it := r.Run.Validation[0]
	if !it.Done || !it.Auto || it.By == nil || it.By.ID != "shipmate" ||
		!strings.Contains(it.Detail, "errors 1% (baseline 1%); max 5%, at most 3× the baseline; the last 2 conclusive measurements passed") ||
		!strings.HasPrefix(it.Link, prom.URL+"/graph?") {
		t.Errorf("item %+v, want confirmed by Shipmate with the figures and a link", it)
	}

	id = b.request("bob", "/deploy demo v2 canary")
	b.waitState(id, "monitoring")
	svc.Set(0.5, 0.15)
	b.waitState(id, "rolled_back")
	failed := ""
	for _, ev := range read(id).Events {
		if ev.To == "failed" {
			failed = ev.Detail
		}
	}
	if !strings.Contains(failed, "monitoring failed: analysis: errors") || !strings.Contains(failed, "above its max of 5% in 2 conclusive measurements in a row") {
		t.Errorf("failure %q, want the figures", failed)
	}
}

// analysedFixture is a bot's world whose canary deploys are watched by the
// post-deployment analysis on a real Prometheus, which scrapes a service
// whose errors the test sets: canary monitors for 4 seconds, measuring its
// error ratio every second, 2 failures in a row rolling back.
func analysedFixture(t *testing.T) (*fixture, *promtest.Service, *promtest.Server) {
	t.Helper()
	svc := promtest.NewService(t, "demo", "canary")
	prom := promtest.Start(t, svc)
	f := newFixture(t)
	f.top = fmt.Sprintf(`validation:
  errors: "No error spikes in logs"
prometheus: {url: %q}
analysis:
  errors:
    query: 'sum(rate(http_requests_total{app="{app}",env="{env}",code=~"5.."}[5s])) / sum(rate(http_requests_total{app="{app}",env="{env}"}[5s]))'
    max: 0.05
    max_vs_baseline: 3
    format: percent
`, prom.URL)
	text := f.configText()
	const canary = "    monitor: 1h\n"
	if !strings.Contains(text, canary) {
		t.Fatalf("the fixture's configuration has no %q", canary)
	}
	f.write("config.yaml", strings.Replace(text, canary,
		"    monitor: 4s\n    validation: [errors]\n    analysis: [errors]\n    analysis_every: 1s\n    failures_to_rollback: 2\n", 1))
	return f, svc, prom
}

// analysisLine is the Analysis field of run id's message on the console.
func analysisLine(t *testing.T, b *bot, id uint64) string {
	t.Helper()
	var entries []struct {
		Ref     string `json:"ref"`
		Message struct {
			Fields []struct {
				Label string `json:"label"`
				Value string `json:"value"`
			} `json:"fields"`
		} `json:"message"`
	}
	if code := b.do("GET", "/api/timeline", nil, &entries); code != http.StatusOK {
		t.Fatalf("GET /api/timeline: status %d", code)
	}
	for _, e := range entries {
		if e.Ref != fmt.Sprintf("run-%d", id) {
			continue
		}
		for _, f := range e.Message.Fields {
			if f.Label == "Analysis" {
				return f.Value
			}
		}
	}
	return ""
}
