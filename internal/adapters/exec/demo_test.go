package exec

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/runbook"
)

// repoRoot returns the directory holding go.mod, above this file.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller failed")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			t.Fatalf("no go.mod above %s", file)
		}
	}
}

// demoConfig is the demo configuration, run from dir, keeping its state in
// state ("": the scripts' default, data/demo).
func demoConfig(dir, scripts, state string) Config {
	sh := func(name string) []string { return []string{"sh", filepath.Join(scripts, name)} }
	cfg := Config{
		Deploy:   sh("deploy.sh"),
		Rollback: sh("rollback.sh"),
		Verify:   sh("verify.sh"),
		Health:   sh("health.sh"),
		Dir:      dir,
	}
	if state != "" {
		cfg.Env = map[string]string{"DEMO_DIR": state}
	}
	return cfg
}

func readVersion(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDemoScripts(t *testing.T) {
	root := repoRoot(t)
	state := t.TempDir()
	// As configured: relative script paths, run from the repository root.
	e := mustNew(t, demoConfig(root, "configs/demo", state))
	ctx := t.Context()
	versionFile := filepath.Join(state, "staging.version")

	var out []string
	progress := func(l string) { out = append(out, l) }

	// A good deploy, verified and healthy.
	v1 := runbook.Job{RunID: 7, Action: runbook.ActionDeploy, App: "shop", Env: "staging", Version: "1.0.0", Requester: "U1"}
	if err := e.Deploy(ctx, v1, progress); err != nil {
		t.Fatalf("deploy 1.0.0: %v (output %q)", err, out)
	}
	want := []string{"==> deploying shop 1.0.0 to staging (run 7)", "pulling artifact...", "switching traffic...", "checking health...", "done"}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("deploy output (-want +got):\n%s", diff)
	}
	if got := readVersion(t, versionFile); got != "1.0.0\n" {
		t.Errorf("version file = %q, want %q", got, "1.0.0\n")
	}
	out = nil
	if err := e.Verify(ctx, v1, progress); err != nil {
		t.Fatalf("verify 1.0.0: %v", err)
	}
	if !slices.Contains(out, "smoke: GET /healthz 200") {
		t.Errorf("verify output %q lacks %q", out, "smoke: GET /healthz 200")
	}
	if err := e.Health(ctx, v1); err != nil {
		t.Errorf("health 1.0.0: %v", err)
	}

	// A bad build: the deploy fails, and so does its health.
	out = nil
	bad := runbook.Job{RunID: 8, Action: runbook.ActionDeploy, App: "shop", Env: "staging", Version: "bad-1", PreviousVersion: "1.0.0"}
	err := e.Deploy(ctx, bad, progress)
	if want := "deploy exited with status 1: health endpoint returned 503"; err == nil || err.Error() != want {
		t.Errorf("deploy bad-1: error = %v, want %q", err, want)
	}
	if !slices.Contains(out, "replacing 1.0.0") {
		t.Errorf("deploy bad-1 output %q lacks %q", out, "replacing 1.0.0")
	}
	if err := e.Health(ctx, bad); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("health bad-1: error = %v, want a 503", err)
	}
	if err := e.Verify(ctx, bad, nil); err == nil {
		t.Error("verify bad-1 succeeded")
	}

	// The rollback puts 1.0.0 back.
	out = nil
	back := runbook.Job{RunID: 9, Action: runbook.ActionRollback, App: "shop", Env: "staging", Version: "1.0.0", PreviousVersion: "bad-1"}
	if err := e.Rollback(ctx, back, progress); err != nil {
		t.Fatalf("rollback: %v (output %q)", err, out)
	}
	want = []string{"==> rolling back shop in staging to 1.0.0 (run 9)", "replacing bad-1", "switching traffic back...", "done"}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("rollback output (-want +got):\n%s", diff)
	}
	if got := readVersion(t, versionFile); got != "1.0.0\n" {
		t.Errorf("version file after rollback = %q, want %q", got, "1.0.0\n")
	}
	if err := e.Verify(ctx, back, nil); err != nil {
		t.Errorf("verify after rollback: %v", err)
	}

	// Checks against what runs.
	other := runbook.Job{App: "shop", Env: "staging", Version: "2.0.0"}
	if err := e.Verify(ctx, other, nil); err == nil || !strings.Contains(err.Error(), `returned "1.0.0", want "2.0.0"`) {
		t.Errorf("verify 2.0.0 while 1.0.0 runs: error = %v", err)
	}
	if err := e.Health(ctx, other); err == nil || !strings.Contains(err.Error(), `running version is "1.0.0", want "2.0.0"`) {
		t.Errorf("health 2.0.0 while 1.0.0 runs: error = %v", err)
	}

	// Input that is not a plain name is refused before anything happens.
	for _, j := range []runbook.Job{
		{App: "shop", Env: "staging", Version: "1.0.0; touch pwned"},
		{App: "shop", Env: "../../etc", Version: "1.0.0"},
		{App: "shop", Env: "staging", Version: "-rf"},
		{App: "", Env: "staging", Version: "1.0.0"},
	} {
		err := e.Deploy(ctx, j, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "deploy exited with status 2: ") {
			t.Errorf("deploy %+v: error = %v, want exit status 2", j, err)
		}
	}
	if got := readVersion(t, versionFile); got != "1.0.0\n" {
		t.Errorf("version file after refused deploys = %q, want %q", got, "1.0.0\n")
	}
	entries, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("demo dir holds %d entries, want only staging.version", len(entries))
	}
}

func TestDemoHealthIsQuiet(t *testing.T) {
	root := repoRoot(t)
	cfg := demoConfig(root, "configs/demo", t.TempDir())
	// Health has no Progress; run health.sh as a deploy to see its output.
	quiet := mustNew(t, Config{Deploy: cfg.Health, Dir: root, Env: cfg.Env})
	e := mustNew(t, cfg)

	j := runbook.Job{App: "shop", Env: "prod", Version: "3.1.0"}
	if err := e.Rollback(t.Context(), j, nil); err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := quiet.Deploy(t.Context(), j, func(l string) { out = append(out, l) }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 0 {
		t.Errorf("health.sh printed %q on success", out)
	}
}

func TestDemoDefaultDir(t *testing.T) {
	dir := t.TempDir()
	e := mustNew(t, demoConfig(dir, filepath.Join(repoRoot(t), "configs", "demo"), ""))
	j := runbook.Job{App: "shop", Env: "qa", Version: "0.9.0"}
	if err := e.Deploy(t.Context(), j, nil); err != nil {
		t.Fatal(err)
	}
	if got := readVersion(t, filepath.Join(dir, "data", "demo", "qa.version")); got != "0.9.0\n" {
		t.Errorf("version file = %q, want %q", got, "0.9.0\n")
	}
	if err := e.Health(t.Context(), j); err != nil {
		t.Errorf("health: %v", err)
	}
}
