package jenkins

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/jenkins/jenkinstest"
	"shipmate/internal/runbook"
)

// ciBuild adds a finished (or, with result "", running) build to job.
func (e *testEnv) ciBuild(job, display, version, result string, artifacts ...string) {
	params := url.Values{}
	if version != "" {
		params.Set("VERSION", version)
	}
	e.f.AddBuild(job, jenkinstest.PastBuild{Params: params, DisplayName: display, Artifacts: artifacts, Result: result})
}

func TestChecker(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "ci/billing"})
	// Oldest first, as Jenkins numbers them.
	e.ciBuild("ci/billing", "", "1.0", "SUCCESS", "dist/billing-1.0.tar.gz") // #1
	e.ciBuild("ci/billing", "", "1.1", "SUCCESS")                            // #2: archived nothing
	e.ciBuild("ci/billing", "", "1.2", "SUCCESS", "dist/billing-1.2.tar.gz") // #3
	e.ciBuild("ci/billing", "", "1.2", "FAILURE", "dist/billing-1.2.tar.gz") // #4: the newest for 1.2
	e.ciBuild("ci/billing", "1.3", "", "SUCCESS")                            // #5: named by its display name
	e.ciBuild("ci/billing", "", "1.4", "")                                   // #6: running
	e.ciBuild("ci/billing", "", "1.5", "UNSTABLE")                           // #7
	k := NewChecker(e.c, map[string]CheckConfig{
		"tests":    {Job: "ci/billing"},
		"artifact": {Job: "ci/billing", Artifact: "billing-{version}.tar.gz"},
		"named":    {Job: "ci/billing", BuildMatching: "{app}-{version}"},
		"nojob":    {Job: "ci/checkout"},
	})
	build := func(n int) string { return e.f.URL + fmt.Sprintf("/job/ci/job/billing/%d/", n) }
	for _, tc := range []struct {
		item, version string
		want          runbook.CheckResult
	}{
		{"tests", "1.0", runbook.CheckResult{OK: true, Detail: "ci/billing #1: SUCCESS", Link: build(1)}},
		{"artifact", "1.0", runbook.CheckResult{OK: true, Detail: "ci/billing #1: SUCCESS, has billing-1.0.tar.gz", Link: build(1)}},
		{"artifact", "1.1", runbook.CheckResult{Detail: "ci/billing #2 for 1.1 is SUCCESS but archived no billing-1.1.tar.gz", Link: build(2)}},
		{"tests", "1.2", runbook.CheckResult{Detail: "ci/billing #4 for 1.2 is FAILURE", Link: build(4)}},
		{"tests", "1.3", runbook.CheckResult{OK: true, Detail: "ci/billing #5: SUCCESS", Link: build(5)}},
		{"tests", "1.4", runbook.CheckResult{Detail: "ci/billing #6 for 1.4 is still running", Link: build(6)}},
		{"tests", "1.5", runbook.CheckResult{Detail: "ci/billing #7 for 1.5 is UNSTABLE", Link: build(7)}},
		{"tests", "9.9", runbook.CheckResult{Detail: "no build of ci/billing for 9.9 among the last 50", Link: e.f.URL + "/job/ci/job/billing/"}},
		{"named", "1.0", runbook.CheckResult{Detail: "no build of ci/billing for billing-1.0 among the last 50", Link: e.f.URL + "/job/ci/job/billing/"}},
	} {
		t.Run(tc.item+"@"+tc.version, func(t *testing.T) {
			j := testJob(nil)
			j.Version = tc.version
			got, err := k.Check(context.Background(), j, tc.item)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unknown job", func(t *testing.T) {
		_, err := k.Check(context.Background(), testJob(nil), "nojob")
		if err == nil || err.Error() != "Jenkins has no job ci/checkout" {
			t.Errorf("Check error = %v", err)
		}
	})
	t.Run("unknown item", func(t *testing.T) {
		_, err := k.Check(context.Background(), testJob(nil), "docs")
		if err == nil || err.Error() != `no Jenkins check is configured for item "docs"` {
			t.Errorf("Check error = %v", err)
		}
	})
}

func TestCheckerLooksAtTheLast50(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "ci/billing"})
	e.ciBuild("ci/billing", "", "1.2", "SUCCESS") // #1, too old
	for i := range 50 {
		e.ciBuild("ci/billing", "", fmt.Sprintf("2.%d", i), "SUCCESS")
	}
	k := NewChecker(e.c, map[string]CheckConfig{"tests": {Job: "ci/billing"}})
	got, err := k.Check(context.Background(), testJob(nil), "tests")
	if err != nil {
		t.Fatal(err)
	}
	if got.OK || got.Detail != "no build of ci/billing for 1.2 among the last 50" {
		t.Errorf("Check = %+v", got)
	}
	if !strings.Contains(strings.Join(e.f.Requests(), "\n"), "%7B0%2C50%7D") {
		t.Errorf("the builds were not asked for with a {0,50} range:\n%s", strings.Join(e.f.Requests(), "\n"))
	}
}
