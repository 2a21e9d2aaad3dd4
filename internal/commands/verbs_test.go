package commands

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHelpListsEveryVerb(t *testing.T) {
	help := anyApp.Help()
	for _, v := range verbs {
		if !strings.Contains(help, v.usage()+"\n") {
			t.Errorf("help lacks the usage of %s: %q", v.title(), v.usage())
		}
		if !strings.Contains(help, v.summary+"\n") {
			t.Errorf("help lacks the summary of %s: %q", v.title(), v.summary)
		}
	}
	for _, e := range testEnvs {
		if !strings.Contains(help, e.Name) {
			t.Errorf("help lacks environment %q", e.Name)
		}
		for _, a := range e.Aliases {
			if !strings.Contains(help, a) {
				t.Errorf("help lacks alias %q", a)
			}
		}
	}
}

func TestHelp(t *testing.T) {
	want := `Shipmate commands:
  /deploy <app> <version> [to] <env> [--reason "..."] [--dry-run] [--emergency]
      Deploy a version of an app to an environment.
  /rollback <app> <env> [to <version>] [--reason "..."] [--incident]
      Roll an app back to its last good version, or to the version named.
  /deploy status [app]
      Show what is deploying now, for every app or for one.
  /deploy history <app> [env]
      List recent deployments of an app, in every environment or in one.
  /deploy whereis <app>
      Show which version of an app runs in each environment.
  /deploy stats <app> [env] [--days N]
      Show an app's delivery (DORA): deploys a day, lead time, change failure rate, time to restore.
  /deploy lock <app|all> <env> [reason words...]
      Stop deployments of an app, or of all apps, to an environment.
  /deploy unlock <app|all> <env>
      Allow deployments again after a lock.
  /deploy unfreeze <app> <env>
      Allow deployments of an app again after a rollback during an incident froze them.
  /deploy cancel <id>
      Cancel a run that has not finished.
  /deploy approve <id>
      Approve a run that is waiting for approval.
  /deploy reject <id> [reason words...]
      Reject a run that is waiting for approval.
  /deploy help [verb]
      Show this help, or how to use one verb.
Environments:
  development (dev)
  staging (stg, stage)
  production (prod, prd)`
	if diff := cmp.Diff(want, anyApp.Help()); diff != "" {
		t.Errorf("Help() mismatch (-want +got):\n%s", diff)
	}
	if got, want := knownApps.Help(), want+"\nApps: checkout, demo, billing-api"; got != want {
		t.Errorf("Help() with apps ends %q, want %q", got[len(got)-40:], want[len(want)-40:])
	}
	if got := (&Parser{}).Help(); !strings.HasSuffix(got, "Environments: none configured") {
		t.Errorf("Help() without environments ends %q", got[len(got)-40:])
	}
}

// TestVerbTable checks the table itself: one bare form per command, unique
// verb names, and every entry complete, so that help never shows a blank.
func TestVerbTable(t *testing.T) {
	bare := map[string]int{}
	names := map[string]bool{}
	for _, v := range verbs {
		if v.command != "deploy" && v.command != "rollback" {
			t.Errorf("verb %q belongs to unknown command %q", v.name, v.command)
		}
		if v.summary == "" || v.parse == nil {
			t.Errorf("verb %s is incomplete", v.title())
		}
		if v.name == "" {
			bare[v.command]++
			continue
		}
		if names[v.name] {
			t.Errorf("verb %q registered twice", v.name)
		}
		names[v.name] = true
		if err := ValidateApp(v.name); err == nil {
			t.Errorf("verb %q is accepted as an app name", v.name)
		}
	}
	if diff := cmp.Diff(map[string]int{"deploy": 1, "rollback": 1}, bare); diff != "" {
		t.Errorf("bare forms mismatch (-want +got):\n%s", diff)
	}
}
