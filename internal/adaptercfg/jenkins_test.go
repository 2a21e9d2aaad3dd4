package adaptercfg

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/adapters/jenkins"
)

const jenkinsConfig = `
roles:
  deployer: {web: [bob]}
checklist:
  tests:    "All tests passing"
  artifact: "Build artifact created and tagged"
environments:
  staging:
    deployers: [deployer]
    approval: none
    checklist: [tests, artifact]
jenkins:
  url: ${JENKINS_URL}
  user: ${JENKINS_USER}
  token: ${JENKINS_TOKEN}
apps:
  billing:
    executor: jenkins
    jenkins:
      job: deploy/billing
      params: {APP: "{app}", VERSION: "{version}", ENVIRONMENT: "{env}", SHIPMATE_RUN: "{run}"}
      rollback_params: {ACTION: rollback, VERSION: "{previous_version}"}
    checks:
      tests:    {jenkins: {job: ci/billing, build_matching: "{version}"}}
      artifact: {jenkins: {job: release/billing, build_matching: "{version}", artifact: "billing-{version}.tar.gz"}}
`

func jenkinsEnv(name string) (string, bool) {
	v, ok := map[string]string{"JENKINS_URL": "https://ci.example.com", "JENKINS_USER": "shipmate", "JENKINS_TOKEN": "11aa22bb"}[name]
	return v, ok
}

func TestJenkinsAppAndChecks(t *testing.T) {
	c, err := Parse([]byte(jenkinsConfig), jenkinsEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Jenkins == nil || c.Jenkins.URL != "https://ci.example.com" || c.Jenkins.Token != "11aa22bb" {
		t.Fatalf("jenkins server = %+v", c.Jenkins)
	}
	app := c.AppBlocks["billing"]
	if app.Jenkins == nil || app.Jenkins.Job != "deploy/billing" || app.Jenkins.Params["VERSION"] != "{version}" ||
		app.Jenkins.RollbackParams["ACTION"] != "rollback" {
		t.Fatalf("job = %+v", app.Jenkins)
	}
	if got := app.Checks["artifact"]; got.Job != "release/billing" || got.Artifact != "billing-{version}.tar.gz" {
		t.Fatalf("artifact check = %+v", got)
	}
	if diff := cmp.Diff([]string{"artifact", "tests"}, c.Policy.Apps["billing"].Checks); diff != "" {
		t.Errorf("policy checks (-want +got):\n%s", diff)
	}
	var _ jenkins.CheckConfig = app.Checks["tests"]
}

func TestJenkinsErrors(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"check of an unknown item", "      tests:    {jenkins", "      testz:    {jenkins",
			`apps.billing.checks.testz: unknown checklist item "testz" (define it under checklist:)`},
		{"no server", "jenkins:\n  url: ${JENKINS_URL}\n  user: ${JENKINS_USER}\n  token: ${JENKINS_TOKEN}\n", "",
			`apps.billing.executor: jenkins needs the top-level jenkins: block (url, user, token)`},
		{"no job", "      job: deploy/billing\n", "",
			`apps.billing.jenkins.job: required`},
		{"check without a way", `{jenkins: {job: ci/billing, build_matching: "{version}"}}`, "{}",
			`apps.billing.checks.tests: say how to check it`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(jenkinsConfig, tc.old, tc.new, 1)
			if text == jenkinsConfig {
				t.Fatalf("%q not in the config", tc.old)
			}
			_, err := Parse([]byte(text), jenkinsEnv)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "11aa22bb") {
				t.Fatalf("the token leaked into %q", err)
			}
		})
	}
}
