package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// A deploy script has SHIPMATE_APP, SHIPMATE_ENV … of its run in its
// environment: a bot runs it calls lists what its flags ask for, not that.
func TestDeployScriptVariablesDoNotFilterRuns(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shipmate.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := &runbook.Run{Action: runbook.ActionDeploy, App: "demo", Env: "development", Version: "v1",
		Requester: runbook.User{Platform: "web", ID: "bob"}, State: runbook.StateRequested, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	config := configWithStore(t, dir, db)

	env := map[string]string{"SHIPMATE_APP": "billing", "SHIPMATE_ENV": "production", "SHIPMATE_VERSION": "v9", "SHIPMATE_ACTION": "deploy"}
	code, stdout, stderr := call(t, env, "runs", "--config", config, "--json")
	var runs []runbook.Run
	if code != 0 || json.Unmarshal([]byte(stdout), &runs) != nil || len(runs) != 1 || runs[0].App != "demo" {
		t.Fatalf("bot runs with a deploy script's variables: exit %d\n%s\n%s\nwant run #1 of demo", code, stdout, stderr)
	}
	code, stdout, _ = call(t, map[string]string{"SHIPMATE_RUNS_APP": "billing"}, "runs", "--config", config, "--json")
	if code != 0 || stdout != "[]\n" {
		t.Fatalf("bot runs with SHIPMATE_RUNS_APP=billing: exit %d, %s; want no runs", code, stdout)
	}
}

// configWithStore writes into dir the shipped configuration with its store
// at db, and returns its path.
func configWithStore(t *testing.T, dir, db string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "shipmate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yaml")
	text := strings.Replace(string(data), `store: "data/shipmate.db"`, "store: "+strconv.Quote(db), 1)
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return config
}
