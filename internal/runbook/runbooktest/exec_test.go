package runbooktest

import (
	"testing"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/executortest"
)

// The fake executor keeps the contract the real ones keep, with and
// without its capabilities.
func TestExecContract(t *testing.T) {
	for name, caps := range map[string][]Capability{"bare": nil, "all": {Resolve, Verify, Health, Reattach}} {
		t.Run(name, func(t *testing.T) {
			executortest.Run(t, func(t *testing.T) executortest.Setup {
				x := NewExec(caps...)
				x.Fail("bad")
				x.Hold(StepDeploy, "", "hold")
				return executortest.Setup{Executor: x.Executor(), Good: "v1", Other: "v2", Fail: "bad", Block: "hold",
					Started: func(a runbook.Action, version string) int { return x.Steps(string(a), "staging", version) }}
			})
		})
	}
}

// Executor has exactly the capabilities whose function field is set.
func TestExecutorCapabilities(t *testing.T) {
	for mask := range 16 {
		x := &Exec{}
		fn := NewExec(Resolve, Verify, Health, Reattach)
		if mask&1 != 0 {
			x.ResolveFunc = fn.ResolveFunc
		}
		if mask&2 != 0 {
			x.VerifyFunc = fn.VerifyFunc
		}
		if mask&4 != 0 {
			x.HealthFunc = fn.HealthFunc
		}
		if mask&8 != 0 {
			x.ReattachFunc = fn.ReattachFunc
		}
		e := x.Executor()
		_, r := e.(runbook.Resolver)
		_, v := e.(runbook.Verifier)
		_, h := e.(runbook.HealthChecker)
		_, a := e.(runbook.Reattacher)
		if got := [4]bool{r, v, h, a}; got != [4]bool{mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0} {
			t.Errorf("fields %04b: Resolver, Verifier, HealthChecker, Reattacher = %v", mask, got)
		}
	}
}
