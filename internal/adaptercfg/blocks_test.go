package adaptercfg

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	kube "shipmate/internal/adapters/kubernetes"
)

// valid is a valid configuration whose adapter blocks the cases break.
const valid = `roles:
  dev: {web: [alice]}
  lead: {web: [bob], slack_groups: [S1]}
checklist:
  tests: "Tests pass"
environments:
  staging:
    aliases: [stg]
    deployers: [dev]
    approval: none
    monitor: 5m
  production:
    aliases: [prod]
    deployers: [dev]
    approval: {roles: [lead]}
    checklist: [tests]
    requires: staging
    windows: ["Mon-Fri 09:00-17:00"]
    rollback: [requester, lead]
apps:
  web:
    executor: exec
    exec: {deploy: [d], rollback: [r]}
`

func noVars(string) (string, bool) { return "", false }

// The adapters' blocks are decoded and checked by the adapters, and their
// mistakes still name the exact key and line.
func TestBlockErrors(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown exec key", "rollback: [r]}", "rollback: [r], cwd: /tmp}",
			`apps.web.exec.cwd: unknown key (line 23)`},
		{"bad exec timeout", "rollback: [r]}", "rollback: [r], timeout: soon}",
			`apps.web.exec.timeout: invalid duration "soon" (line 23)`},
		{"exec deploy missing", "{deploy: [d], rollback: [r]}", "{rollback: [r]}",
			`apps.web.exec.deploy: required: the command as a list, such as ["sh", "deploy.sh"] (line 23)`},
		{"exec rollback empty", "{deploy: [d], rollback: [r]}", "{deploy: [d], rollback: []}",
			`apps.web.exec.rollback: required: the command as a list, such as ["sh", "deploy.sh"] (line 23)`},
		{"exec deploy a string", "{deploy: [d], rollback: [r]}", "{deploy: ./deploy.sh, rollback: [r]}",
			`apps.web.exec.deploy: want a list, got "./deploy.sh" (line 23)`},
		{"exec program empty", "{deploy: [d], rollback: [r]}", "{deploy: [\"\"], rollback: [r]}",
			`apps.web.exec.deploy[0]: the program must not be empty (line 23)`},
		{"exec env of Shipmate's", "{deploy: [d], rollback: [r]}", "{deploy: [d], rollback: [r], env: {SHIPMATE_APP: x}}",
			`apps.web.exec.env.SHIPMATE_APP: invalid variable name (letters, digits and _, not starting with a digit; SHIPMATE_* are Shipmate's) (line 23)`},
		{"smoke URL", "    exec: {deploy: [d], rollback: [r]}\n",
			"    kubernetes: {namespace: shop, workloads: [deployment/web], image: \"r.example/web:{version}\"}\n    smoke: [{url: \"http://a/\"}, {url: ftp://b}]\n",
			`apps.web.smoke[1].url: want an http(s) URL, got "ftp://b" (line 24)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(valid, tc.old) {
				t.Fatalf("%q is not in the valid config", tc.old)
			}
			text := strings.Replace(valid, tc.old, tc.new, 1)
			if tc.name == "smoke URL" {
				text = strings.Replace(text, "executor: exec", "executor: kubernetes", 1)
			}
			_, err := Parse([]byte(text), noVars)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

// A kubernetes app's registry credentials come from the environment; an
// unset password is refused rather than sent as empty, and its value never
// shows in the error.
func TestKubernetesRegistryCredentials(t *testing.T) {
	text := strings.Replace(valid, "    executor: exec\n    exec: {deploy: [d], rollback: [r]}\n", `    executor: kubernetes
    kubernetes:
      namespace: shop
      workloads: [deployment/web]
      image: "registry.example.com/shop/web:{version}"
      registry: {username: shipmate-robot, password: "${REGISTRY_PASSWORD}"}
`, 1)
	vars := func(v map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { s, ok := v[k]; return s, ok }
	}
	c, err := Parse([]byte(text), vars(map[string]string{"REGISTRY_PASSWORD": "hunter2-token"}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&kube.RegistryAuth{Username: "shipmate-robot", Password: "hunter2-token"}, c.AppBlocks["web"].Kube.Registry); diff != "" {
		t.Errorf("registry (-want +got):\n%s", diff)
	}
	_, err = Parse([]byte(text), noVars)
	want := "apps.web.kubernetes.registry: username and password go together (the password may be a token; an unset ${VAR} leaves it empty) (line 27)"
	if err == nil || err.Error() != want {
		t.Errorf("without the variable: %v\nwant: %s", err, want)
	}
}

// Secrets lists every secret value of the configuration, for the engine
// to keep out of what it stores and shows.
func TestSecrets(t *testing.T) {
	text := strings.Replace(jenkinsConfig, "apps:\n", "chat:\n  slack: {bot_token: xoxb-slack-token, signing_secret: s1gning-secret}\napps:\n", 1)
	s, err := Parse([]byte(text), jenkinsEnv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"xoxb-slack-token", "s1gning-secret", "11aa22bb"}, s.Secrets()); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
}
