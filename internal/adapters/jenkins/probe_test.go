package jenkins

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/jenkins/jenkinstest"
	"shipmate/internal/probe"
)

func TestProbe(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: []string{"ACTION", "APP", "VERSION"}})
	e.f.AddJob(jenkinstest.Job{Name: "ci/billing"})
	deploy := []JobConfig{
		{Job: "deploy/billing", Params: map[string]string{"APP": "{app}", "VERSION": "{version}"}, RollbackParams: map[string]string{"ACTION": "rollback"}},
		{Job: "deploy/billing", Params: map[string]string{"APP": "{app}"}}, // a second app on the same job
	}
	got := Probe(context.Background(), e.c, deploy, []string{"ci/billing"})
	want := []probe.Result{
		{Service: "jenkins", Target: "whoami", OK: true, Detail: "user bob on Jenkins 2.440 at " + e.f.URL},
		{Service: "jenkins", Target: "job deploy/billing", OK: true, Detail: "found, buildable, parameters ACTION, APP, VERSION"},
		{Service: "jenkins", Target: "job ci/billing", OK: true, Detail: "found (CI job of a checklist item)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := e.f.Seen("GET /me/api/json"); n != 1 {
		t.Errorf("GET /me/api/json seen %d times, want 1", n)
	}
}

func TestProbeFails(t *testing.T) {
	e := newTestEnv(t)
	e.f.AddJob(jenkinstest.Job{Name: "deploy", Folder: true})
	e.f.AddJob(jenkinstest.Job{Name: "deploy/off", Disabled: true})
	e.f.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: []string{"VERSION"}})
	deploy := []JobConfig{
		{Job: "deploy/checkout"},
		{Job: "deploy"},
		{Job: "deploy/off"},
		{Job: "deploy/billing", Params: map[string]string{"VERSION": "{version}", "APP": "{app}"}},
	}
	got := Probe(context.Background(), e.c, deploy, []string{"ci/missing"})
	want := []probe.Result{
		{Service: "jenkins", Target: "job deploy/checkout", Detail: "not found (404)"},
		{Service: "jenkins", Target: "job deploy", Detail: "not a job that can be built (it is a Folder)"},
		{Service: "jenkins", Target: "job deploy/off", Detail: "disabled"},
		{Service: "jenkins", Target: "job deploy/billing", Detail: "declares no parameter APP (it has VERSION)"},
		{Service: "jenkins", Target: "job ci/missing", Detail: "not found (404)"},
	}
	if diff := cmp.Diff(want, got[1:]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Wrong credentials: one failure, without the token, and no job tried.
	wrong := e.client(t, ServerConfig{URL: e.f.URL, User: testUser, Token: "0000wrong7oken"})
	got = Probe(context.Background(), wrong, deploy, nil)
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Detail, "rejected the credentials for user bob") {
		t.Errorf("wrong token: %+v", got)
	}
	if strings.Contains(got[0].Detail, "0000wrong7oken") {
		t.Errorf("the token is shown: %q", got[0].Detail)
	}
}
