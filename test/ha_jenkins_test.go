package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"shipmate/internal/adapters/jenkins/jenkinstest"
)

// jenkinsApp deploys app "billing" through the fake Jenkins jk.
func jenkinsApp(f *fixture, jk *jenkinstest.Server) {
	f.top += fmt.Sprintf(`jenkins:
  url: %s
  user: shipmate
  token: 11d7c0ffee5ecret7oken42
`, jk.URL)
	f.apps += `  billing:
    executor: jenkins
    jenkins:
      job: deploy/billing
      params: {ACTION: deploy, APP: "{app}", VERSION: "{version}", RUN: "{run}"}
      rollback_params: {ACTION: rollback}
      timeout: 10m
`
}

func TestLeaderKilledMidBuildTheNextReattachesOnce(t *testing.T) {
	cl := newEtcdCluster(t)
	f := newFixture(t)
	jk := jenkinstest.New(t, "shipmate", "11d7c0ffee5ecret7oken42")
	release := make(chan struct{})
	jk.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: []string{"ACTION", "APP", "RUN", "VERSION"},
		Script: jenkinstest.Script{Chunks: []string{"deploying billing\n", "migrating\n"}, Result: "SUCCESS", Hold: release}})
	jenkinsApp(f, jk)
	bots := startReplicas(t, f, cl, 3)
	old := leaderOf(t, bots)
	rest := others(bots, old)

	id := rest[0].request("bob", "/deploy billing v7 dev")
	eventually(t, stateTimeout, "the build to start and its number to be stored", func() (bool, string) {
		rec := rest[1].record(id)
		return jk.Started("deploy/billing") == 1 && rec.Run.StepHandle != "", rec.Run.State + " " + rec.Run.StepHandle
	})

	old.kill()
	next := failover(t, rest, time.Now())
	eventually(t, stateTimeout, "the new leader to re-attach to the build", func() (bool, string) {
		rec := next.record(id)
		for _, ev := range rec.Events {
			if ev.Type == "output" && strings.HasPrefix(ev.Detail, "reattach: ") {
				return true, ""
			}
		}
		return false, rec.Run.State + ": " + rec.Run.Note
	})
	close(release)
	rec := next.waitState(id, "succeeded")
	if n := jk.Started("deploy/billing"); n != 1 {
		t.Errorf("Jenkins started %d builds, want 1", n)
	}
	if n := countTransitions(rec, "succeeded"); n != 1 {
		t.Errorf("run #%d succeeded %d times in its trail", id, n)
	}
}
