package config

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"shipmate/configs"
	"shipmate/internal/adapters/exec"
	kube "shipmate/internal/adapters/kubernetes"
	"shipmate/internal/runbook"
)

// windowsEqual compares windows by their spec, as Window's fields are
// unexported.
var windowsEqual = cmp.Comparer(func(a, b runbook.Window) bool { return a.String() == b.String() })

// prefixesEqual compares address ranges, whose fields are unexported.
var prefixesEqual = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// blocksEqual compares adapters' blocks by where they are and what they say.
var blocksEqual = cmp.Comparer(func(a, b *Block) bool {
	if a == nil || b == nil {
		return a == b
	}
	ya, erra := yaml.Marshal(a.node)
	yb, errb := yaml.Marshal(b.node)
	return a.path == b.path && erra == nil && errb == nil && bytes.Equal(ya, yb)
})

func noVars(string) (string, bool) { return "", false }

func mustWindow(t *testing.T, spec string) runbook.Window {
	t.Helper()
	w, err := runbook.ParseWindow(spec)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestExample(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "example.yaml"), noVars)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy

	if diff := cmp.Diff([]string{"development", "staging", "production"}, envNames(p.Envs)); diff != "" {
		t.Errorf("env order (-want +got):\n%s", diff)
	}
	analysisDefaults := runbook.AnalysisRule{Every: time.Minute, FailuresToRollback: 3}
	wantEnvs := []runbook.Environment{
		{
			Name:        "development",
			Aliases:     []string{"dev"},
			Deployers:   []string{"deployer"},
			HealthEvery: runbook.DefaultHealthEvery,
			Rollback:    []string{runbook.RoleRequester},
			Analysis:    analysisDefaults,
		},
		{
			Name:      "staging",
			Aliases:   []string{"stg", "stage"},
			Deployers: []string{"deployer"},
			Approval: runbook.ApprovalRule{
				Roles: []string{"tech-lead"}, Count: 1, AllowSelf: true, Expires: 24 * time.Hour,
			},
			Checklist:   []string{"merged", "tests", "artifact", "plan"},
			HealthEvery: runbook.DefaultHealthEvery,
			Rollback:    []string{"devops"},
			Analysis:    analysisDefaults,
		},
		{
			Name:      "production",
			Aliases:   []string{"prod", "prd"},
			Deployers: []string{"deployer"},
			Approval: runbook.ApprovalRule{
				Roles: []string{"release-manager"}, Count: 1, AllowSelf: false, Expires: 24 * time.Hour,
			},
			Checklist:         []string{"merged", "tests", "artifact", "plan", "rollback", "notified", "change", "migrations"},
			Validation:        []string{"health", "errors", "latency", "database", "integrations", "flags", "features"},
			Requires:          "staging",
			Windows:           []runbook.Window{mustWindow(t, "Mon-Thu 09:00-16:00 UTC")},
			Freezes:           []runbook.Freeze{{From: time.Date(2026, 12, 21, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), Reason: "holidays"}},
			Monitor:           30 * time.Minute,
			HealthEvery:       runbook.DefaultHealthEvery,
			Rollback:          []string{"incident-response", "release-manager"},
			Analysis:          runbook.AnalysisRule{Checks: []string{"errors", "latency"}, Every: time.Minute, FailuresToRollback: 3},
			NotifyApprovers:   runbook.NotifyMention,
			RollbackProcedure: true,
		},
	}
	if diff := cmp.Diff(wantEnvs, p.Envs, windowsEqual); diff != "" {
		t.Errorf("environments (-want +got):\n%s", diff)
	}
	// Its analysis is checked, and off while ${PROMETHEUS_URL} is unset.
	if c.Prometheus != nil || len(p.Analysis) != 2 || p.Analysis["latency"].Label != "p95" || p.Analysis["errors"].Format != runbook.FormatPercent {
		t.Errorf("prometheus %v, analysis %+v", c.Prometheus, p.Analysis)
	}

	prod, _ := p.Env("production")
	tuesday := time.Date(2025, time.January, 7, 10, 0, 0, 0, time.UTC)
	friday := time.Date(2025, time.January, 10, 10, 0, 0, 0, time.UTC)
	if !prod.Windows[0].Contains(tuesday) {
		t.Errorf("production window does not contain %v", tuesday)
	}
	if prod.Windows[0].Contains(friday) {
		t.Errorf("production window contains %v", friday)
	}

	if diff := cmp.Diff(runbook.Person{IDs: map[string][]string{"web": {"rita"}, "slack": {"U0RM"}, "discord": {"100000000000000003"}}},
		p.People["rita"]); diff != "" {
		t.Errorf("rita (-want +got):\n%s", diff)
	}
	wantRoles := map[string]runbook.Role{
		"release-manager": {
			People:  []string{"rita"},
			Members: map[string][]string{},
			Groups:  map[string][]string{"slack": {"S0RELEASE"}, "discord": {"876543210987654321"}},
		},
		"deployer": {
			People:  []string{"alice", "bob", "rita", "dan", "ivan"},
			Members: map[string][]string{},
			Groups:  map[string][]string{"discord": {"876543210987654320"}},
		},
	}
	for name, want := range wantRoles {
		if diff := cmp.Diff(want, p.Roles[name]); diff != "" {
			t.Errorf("role %s (-want +got):\n%s", name, diff)
		}
	}
	if len(p.Roles) != 7 || len(p.People) != 5 {
		t.Errorf("got %d roles and %d people, want 7 and 5", len(p.Roles), len(p.People))
	}
	if prod, _ := p.Env("production"); !prod.RollbackProcedure {
		t.Error("production does not follow the rollback procedure")
	}
	if len(p.Validation) != 7 || p.Validation["features"] != "User-facing features working" {
		t.Errorf("validation = %v, want the handbook's 7 items", p.Validation)
	}
	if len(p.Checklist) != 8 || p.Checklist["migrations"] != "Database migrations tested (if applicable)" {
		t.Errorf("checklist = %v", p.Checklist)
	}

	if diff := cmp.Diff(map[string]runbook.App{
		"demo":     {Name: "demo", Executor: "exec"},
		"checkout": {Name: "checkout", Executor: "kubernetes"},
	}, p.Apps); diff != "" {
		t.Errorf("policy apps (-want +got):\n%s", diff)
	}
	// The configuration hands each app's executor its block as written.
	for name, want := range map[string]string{"demo": "exec", "checkout": "kubernetes"} {
		if app := c.Apps[name]; app.Executor != want || app.OnFailure != OnFailureRollback {
			t.Errorf("app %s: %+v", name, app)
		}
	}
	var x exec.Config
	if err := c.Apps["demo"].Exec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(exec.Config{Deploy: []string{"sh", "configs/demo/deploy.sh"}, Rollback: []string{"sh", "configs/demo/rollback.sh"},
		Timeout: 5 * time.Minute}, x); diff != "" {
		t.Errorf("demo's exec block (-want +got):\n%s", diff)
	}
	var k kube.Config
	var smoke []kube.Smoke
	if err := c.Apps["checkout"].Kubernetes.Decode(&k); err != nil {
		t.Fatal(err)
	}
	if err := c.Apps["checkout"].Smoke.Decode(&smoke); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kube.Config{Namespace: "shop", Workloads: []string{"deployment/checkout-api", "deployment/checkout-worker"},
		Container: "app", Image: "registry.example.com/shop/checkout:{version}", ProgressDeadline: 10 * time.Minute, OnFailure: "rollback"}, k); diff != "" {
		t.Errorf("checkout's kubernetes block (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]kube.Smoke{{URL: "http://checkout.shop.svc/healthz", Expect: 200}}, smoke); diff != "" {
		t.Errorf("checkout's smoke (-want +got):\n%s", diff)
	}
	if got := c.Apps["checkout"].Kubernetes.Path(); got != "apps.checkout.kubernetes" {
		t.Errorf("the kubernetes block's path is %q", got)
	}

	if c.Listen != "127.0.0.1:8080" || c.Store != "data/shipmate.db" {
		t.Errorf("listen, store = %q, %q", c.Listen, c.Store)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if diff := cmp.Diff(ChatConfig{Web: WebConfig{Enabled: true, TrustedProxies: loopback}}, c.Chat, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("chat (-want +got):\n%s", diff)
	}
}

func envNames(envs []runbook.Environment) []string {
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	return names
}

func TestShippedConfigs(t *testing.T) {
	fromFile, err := Load(filepath.Join("..", "..", "configs", "shipmate.yaml"), noVars)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"configs.Default", configs.Default},
		{"configs.Example", configs.Example},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.data, noVars); err != nil {
				t.Fatal(err)
			}
		})
	}

	def, err := Parse(configs.Default, noVars)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromFile, def, windowsEqual, prefixesEqual, blocksEqual); diff != "" {
		t.Errorf("configs.Default differs from configs/shipmate.yaml (-file +embedded):\n%s", diff)
	}
	var got exec.Config
	if err := def.Apps["demo"].Exec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := exec.Config{
		Deploy:   []string{"sh", "configs/demo/deploy.sh"},
		Rollback: []string{"sh", "configs/demo/rollback.sh"},
		Verify:   []string{"sh", "configs/demo/verify.sh"},
		Health:   []string{"sh", "configs/demo/health.sh"},
		Timeout:  5 * time.Minute,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("demo exec (-want +got):\n%s", diff)
	}
	if !def.Chat.Web.Enabled {
		t.Error("web console not enabled in the default config")
	}
	if got := envNames(def.Policy.Envs); len(got) != 3 {
		t.Errorf("default environments = %v", got)
	}
}

// minimal is the smallest valid configuration, for tests that add to it.
const minimal = `
roles:
  dev: {web: [alice]}
environments:
  staging:
    deployers: [dev]
    approval: none
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal+`
apps:
  web:
    executor: exec
    on_failure: hold
    exec: {deploy: [d], rollback: [r]}
`), noVars)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Store != DefaultStore {
		t.Errorf("listen, store = %q, %q", c.Listen, c.Store)
	}
	if c.Chat.Web.Enabled {
		t.Error("web console enabled by default")
	}
	if got := c.Policy.Apps["web"]; !got.HoldOnFailure {
		t.Errorf("on_failure: hold gave %+v", got)
	}
	if got := c.Apps["web"].OnFailure; got != OnFailureHold {
		t.Errorf("OnFailure = %q", got)
	}

	c, err = Parse([]byte(minimal+`
  production:
    deployers: [dev]
    approval: {roles: [dev], count: 2, expires: 2h, remind: 30m}
    health_every: 10s
`), noVars)
	if err != nil {
		t.Fatal(err)
	}
	prod := c.Policy.Envs[1]
	want := runbook.ApprovalRule{Roles: []string{"dev"}, Count: 2, AllowSelf: true, Expires: 2 * time.Hour, Remind: 30 * time.Minute}
	if diff := cmp.Diff(want, prod.Approval); diff != "" {
		t.Errorf("approval (-want +got):\n%s", diff)
	}
	if prod.HealthEvery != 10*time.Second {
		t.Errorf("HealthEvery = %v", prod.HealthEvery)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"ADDR":   "0.0.0.0:9090",
		"HEADER": "X-Forwarded-User",
		"YAML":   "a: [b]",
		"ID":     "U123",
		"COUNT":  "2",
		"NONE":   "none",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	c, err := Parse([]byte(`
listen: ${ADDR}
store: "${MISSING}/db-$${ID}-${ID}-$HOME"
roles:
  dev: {web: ["${YAML}"], slack: ["${ID}", "${ID}X"]}
environments:
  staging:
    deployers: [dev]
    approval: {roles: [dev], count: "${COUNT}"}
  production:
    deployers: [dev]
    approval: ${NONE}
chat:
  web: {enabled: true, user_header: "${HEADER}"}
`), lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"listen", c.Listen, "0.0.0.0:9090"},
		{"store", c.Store, "/db-${ID}-U123-$HOME"},
		{"YAML-looking value", c.Policy.Roles["dev"].Members["web"], []string{"a: [b]"}},
		{"slack ids", c.Policy.Roles["dev"].Members["slack"], []string{"U123", "U123X"}},
		{"count", c.Policy.Envs[0].Approval.Count, 2},
		{"approval none", c.Policy.Envs[1].Approval, runbook.ApprovalRule{}},
		{"user_header", c.Chat.Web.UserHeader, "X-Forwarded-User"},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, diff)
		}
	}
}

func TestExpandFunc(t *testing.T) {
	lookup := func(k string) (string, bool) {
		return map[string]string{"A": "x", "B_2": "y"}[k], k == "A" || k == "B_2"
	}
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}${B_2}", want: "xy"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "$$${A}", want: "$x"},
		{in: "cost $5 and $", want: "cost $5 and $"},
		{in: "${UNSET}-", want: "-"},
		{in: "${A", err: `unterminated ${ in "${A" (write $$ for a literal $)`},
		{in: "${}", err: `invalid variable name "" in "${}"`},
		{in: "${1A}", err: `invalid variable name "1A" in "${1A}"`},
	} {
		got, err := expand(tc.in, lookup)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("expand(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), noVars)
	if err == nil {
		t.Fatal("no error for a missing file")
	}
}
