package jenkins

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

func TestJobConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  JobConfig
		want string
	}{
		{"no job", JobConfig{}, "job: required, such as deploy/billing"},
		{"empty folder", JobConfig{Job: "deploy//billing"}, `job: "deploy//billing": want a job name, or folder/name, with no empty parts`},
		{"leading slash", JobConfig{Job: "/billing"}, `job: "/billing": want a job name, or folder/name, with no empty parts`},
		{"unknown placeholder", JobConfig{Job: "b", Params: map[string]string{"V": "{versoin}"}},
			"params.V: unknown placeholder {versoin} (known: {app} {version} {env} {run} {previous_version} {replaced_version} {requester})"},
		{"unknown rollback placeholder", JobConfig{Job: "b", RollbackParams: map[string]string{"V": "{prev}"}},
			"rollback_params.V: unknown placeholder {prev} (known: {app} {version} {env} {run} {previous_version} {replaced_version} {requester})"},
		{"empty name", JobConfig{Job: "b", Params: map[string]string{" ": "x"}}, "params: a parameter has an empty name"},
		{"unstable", JobConfig{Job: "b", Unstable: "pass"}, `unstable: want fail or succeed, got "pass"`},
		{"timeout", JobConfig{Job: "b", Timeout: -time.Second}, "timeout: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || err.Error() != tc.want {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	c := JobConfig{Job: "deploy/billing", Params: map[string]string{"JSON": `{"a": 1}`, "V": "{version}"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Unstable != "fail" || c.Timeout != 60*time.Minute {
		t.Errorf("defaults: unstable %q, timeout %s", c.Unstable, c.Timeout)
	}
}

func TestCheckConfigValidate(t *testing.T) {
	c := CheckConfig{Job: "ci/billing"}
	if err := c.Validate(); err != nil || c.BuildMatching != "{version}" {
		t.Errorf("Validate() = %v, build_matching %q", err, c.BuildMatching)
	}
	for _, tc := range []struct {
		cfg  CheckConfig
		want string
	}{
		{CheckConfig{}, "job: required, such as ci/billing"},
		{CheckConfig{Job: "ci/billing", Artifact: "b-{ver}.tgz"}, "artifact: unknown placeholder {ver} (known: {app} {version} {env} {run} {previous_version} {replaced_version} {requester})"},
	} {
		if err := tc.cfg.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestServerConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  ServerConfig
		want string
	}{
		{ServerConfig{}, "url: required, such as https://ci.example.com"},
		{ServerConfig{URL: "ci.example.com"}, "url: want http:// or https:// and a host, such as https://ci.example.com"},
		{ServerConfig{URL: "https://bob:x@ci.example.com"}, "url: put the credentials in user: and token:, not in the URL"},
		{ServerConfig{URL: "https://ci.example.com/?a=b"}, "url: must not have a query or fragment"},
		{ServerConfig{URL: "https://ci.example.com", User: "bob"}, "token: user and token go together (a Jenkins user and one of its API tokens)"},
	} {
		if err := tc.cfg.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, ok := range []ServerConfig{
		{URL: "https://ci.example.com/jenkins/"},
		{URL: "http://localhost:8080", User: "bob", Token: "t"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
}

func TestExpand(t *testing.T) {
	j := runbook.Job{RunID: 12, App: "billing", Env: "prod", Version: "1.1", PreviousVersion: "1.2", Requester: "alice"}
	got := expand("{app}/{env}/{version}/{previous_version}/{run}/{requester}/{app}", j)
	if want := "billing/prod/1.1/1.2/12/alice/billing"; got != want {
		t.Errorf("expand = %q, want %q", got, want)
	}
}

func TestJobPath(t *testing.T) {
	got, err := jobPath("deploy/billing api/v2#x")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("/job/deploy/job/billing%20api/job/v2%23x", got); diff != "" {
		t.Errorf("jobPath (-want +got):\n%s", diff)
	}
}
