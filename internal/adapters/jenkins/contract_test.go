package jenkins

import (
	"net/url"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/executortest"
)

// The Jenkins executor keeps the executor contract against a fake Jenkins
// speaking its JSON: version "bad" fails its build, "hold" builds until it
// is stopped.
func TestExecutorContract(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executortest.Setup {
		e := newTestEnv(t)
		e.f.addJob(&fakeJob{name: "deploy/demo", params: []string{"ACTION", "VERSION"},
			scriptFor: func(p url.Values) buildScript {
				s := buildScript{chunks: []string{p.Get("ACTION") + " " + p.Get("VERSION") + "\n"}, result: "SUCCESS", estimated: time.Minute}
				switch p.Get("VERSION") {
				case "bad":
					s.result = "FAILURE"
				case "hold":
					s.forever = true
				}
				return s
			}})
		x := e.executor(t, JobConfig{Job: "deploy/demo",
			Params:         map[string]string{"ACTION": "deploy", "VERSION": "{version}"},
			RollbackParams: map[string]string{"ACTION": "rollback", "VERSION": "{previous_version}"}})
		return executortest.Setup{Executor: x, Good: "v1", Other: "v2", Fail: "bad", Block: "hold",
			Started: func(action runbook.Action, version string) int {
				n := 0
				for _, p := range e.f.triggers("deploy/demo") {
					if p.Get("ACTION") == string(action) && p.Get("VERSION") == version {
						n++
					}
				}
				return n
			}}
	})
}
