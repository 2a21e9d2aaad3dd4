package jenkins

import (
	"net/url"
	"testing"
	"time"

	"shipmate/internal/adapters/jenkins/jenkinstest"
	"shipmate/internal/runbook"
	"shipmate/internal/runbook/executortest"
)

// The Jenkins executor keeps the executor contract against a fake Jenkins
// speaking its JSON: version "bad" fails its build, "hold" builds until it
// is stopped.
func TestExecutorContract(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executortest.Setup {
		e := newTestEnv(t)
		e.f.AddJob(jenkinstest.Job{Name: "deploy/demo", Params: []string{"ACTION", "VERSION"},
			ScriptFor: func(p url.Values) jenkinstest.Script {
				s := jenkinstest.Script{Chunks: []string{p.Get("ACTION") + " " + p.Get("VERSION") + "\n"}, Result: "SUCCESS", Estimated: time.Minute}
				switch p.Get("VERSION") {
				case "bad":
					s.Result = "FAILURE"
				case "hold":
					s.Hold = make(chan struct{}) // never released: it runs until stopped
				}
				return s
			}})
		x := e.executor(t, JobConfig{Job: "deploy/demo",
			Params:         map[string]string{"ACTION": "deploy", "VERSION": "{version}"},
			RollbackParams: map[string]string{"ACTION": "rollback", "VERSION": "{previous_version}"}})
		return executortest.Setup{Executor: x, Good: "v1", Other: "v2", Fail: "bad", Block: "hold",
			Started: func(action runbook.Action, version string) int {
				n := 0
				for _, p := range e.f.Triggers("deploy/demo") {
					if p.Get("ACTION") == string(action) && p.Get("VERSION") == version {
						n++
					}
				}
				return n
			}}
	})
}
