package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"shipmate/internal/runbook"
)

// exDan is the example's devops engineer: a staging rollback owner.
const exDan = "100000000000000004"

// The ways around the deployment policy, tried over signed HTTP on Discord:
// each is refused, only to its user, and leaves the store as it was.
func TestExampleTrustBoundary(t *testing.T) {
	x := newExample(t, "")
	snapshot := func() string {
		runs, err := x.store.Recent(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		locks, err := x.store.Locks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"runs": runs, "locks": locks})
		return string(b)
	}
	sub := func(who map[string]any, name string, opts ...map[string]any) []byte {
		return x.interaction(2, who, map[string]any{"id": "C1", "name": "deploy", "type": 1,
			"options": []map[string]any{{"name": name, "type": 1, "options": opts}}}, nil)
	}
	opt := func(name, value string) map[string]any {
		return map[string]any{"name": name, "type": 3, "value": value}
	}

	v1 := x.deployStaging("v1")
	x.deployStaging("v2")
	x.deployStaging("v3")

	t.Run("stale Roll back", func(t *testing.T) {
		before := snapshot()
		id := fmt.Sprint(v1.ID)
		yes := x.interaction(3, person(exDan), map[string]any{"custom_id": "yes:rollback:" + id, "component_type": 2},
			x.shownIn(testChannel, v1.Origin.MessageRef))
		got := answer(t, x.postOK(yes), x.lastOut, 7)
		x.settle()
		if !strings.Contains(got, "demo in staging now runs v3, from run #3: roll back from there") {
			t.Errorf("Roll back on v1 answered %q", got)
		}
		if snapshot() != before || x.steps.Steps("rollback", "staging", "v1") != 0 {
			t.Error("the refused Roll back changed something")
		}
	})

	t.Run("self-approval from another chat", func(t *testing.T) {
		r := x.request(person(exRita), "v3", "prod")
		x.press(person(exRita), r, fmt.Sprintf("checklist:%d", r.ID), x.checklist("production")...)
		before := snapshot()
		_, err := x.engine.Act(context.Background(), runbook.User{Platform: "web", ID: "rita"}, r.ID, runbook.ButtonApprove, "")
		if !strings.Contains(runbook.ErrorMessage(err), "you requested run") || snapshot() != before {
			t.Errorf("rita's approval on the console of her Discord request: %v", err)
		}
		if got := x.press(person(exRita), r, fmt.Sprintf("cancel:%d", r.ID)); got != "" {
			t.Fatalf("cancel: %s", got)
		}
	})

	t.Run("a deployer lifts the release manager's code freeze", func(t *testing.T) {
		if got := x.command(sub(person(exRita), "lock", opt("app", "all"), opt("env", "production"), opt("reason", "code freeze"))); !strings.Contains(got, "locked in production") {
			t.Fatalf("lock answered %q", got)
		}
		before := snapshot()
		got := x.command(sub(person(exDana), "unlock", opt("app", "all"), opt("env", "production")))
		if !strings.Contains(got, "only rita (who locked it) or release-manager or incident-response may unlock all in production") || snapshot() != before {
			t.Errorf("unlock by a deployer answered %q", got)
		}
	})

	t.Run("reads by someone with no role", func(t *testing.T) {
		for _, name := range []string{"status", "whereis"} {
			var opts []map[string]any
			if name == "whereis" {
				opts = append(opts, opt("app", "demo"))
			}
			if got := x.command(sub(person(exNora), name, opts...)); !strings.HasPrefix(got, "you have no role in Shipmate") {
				t.Errorf("/deploy %s by a stranger answered %q", name, got)
			}
		}
	})
}
