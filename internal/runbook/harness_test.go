package runbook_test

import (
	"strings"
	"testing"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// harness is runbooktest's, with this package's own helpers added.
type harness struct{ *runbooktest.Harness }

// newExec is the fake executor these tests deploy with: it resolves
// artifacts (an approval is bound to one) and has caps besides.
func newExec(caps ...runbooktest.Capability) *runbooktest.Exec {
	return runbooktest.NewExec(append(caps, runbooktest.Resolve)...)
}

func newHarness(t *testing.T, fx *runbooktest.Exec) *harness {
	t.Helper()
	return newHarnessWith(t, fx, nil)
}

// newHarnessWith lets a test adjust the engine's configuration.
func newHarnessWith(t *testing.T, fx *runbooktest.Exec, adjust func(*runbook.Config)) *harness {
	t.Helper()
	return &harness{runbooktest.New(t, fx, adjust)}
}

// user is a web console user, as the web adapter hands them to the engine.
func user(name string) runbook.User { return runbooktest.User(name) }

// examplePolicy mirrors configs/example.yaml, plus a break-glass role.
func examplePolicy() *runbook.Policy { return runbooktest.Policy() }

func contains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("got %q, want it to contain %q", got, want)
	}
}
