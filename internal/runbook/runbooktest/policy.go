package runbooktest

import (
	"time"

	"shipmate/internal/runbook"
)

// Monday10 is inside production's window (Mon-Thu 09:00-16:00 UTC); the
// harness's clock starts there.
var Monday10 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// PolicyOption changes the policy Policy builds.
type PolicyOption func(*runbook.Policy)

// Policy returns the rules of configs/example.yaml, built in Go, plus a
// break-glass role: development takes any deployer; staging needs four
// checklist items and a tech lead (who may approve their own); production
// needs all eight items, a release manager other than the requester, a
// success in staging first, its window and 30 minutes of monitoring. Its
// people are web console users (rita and bob have Slack ids too) and app
// "demo" is deployed by executor "fake".
func Policy(opts ...PolicyOption) *runbook.Policy {
	web := func(ids ...string) runbook.Role {
		return runbook.Role{Members: map[string][]string{"web": ids}}
	}
	window, err := runbook.ParseWindow("Mon-Thu 09:00-16:00 UTC")
	if err != nil {
		panic(err)
	}
	p := &runbook.Policy{
		People: map[string]runbook.Person{
			"rita": {IDs: map[string][]string{"web": {"rita"}, "slack": {"U0RM"}}},
			"bob":  {IDs: map[string][]string{"web": {"bob"}, "slack": {"U0BOB"}}},
		},
		Roles: map[string]runbook.Role{
			"tech-lead":         web("alice"),
			"release-manager":   web("rita", "rick"),
			"devops":            web("dan"),
			"incident-response": web("ivan"),
			"deployer":          web("alice", "bob", "rita", "rick", "dan", "ivan"),
			"break-glass":       web("ivan"),
		},
		Checklist: map[string]string{
			"merged": "Code merged to release branch", "tests": "All tests passing",
			"artifact": "Build artifact created and tagged", "plan": "Deployment plan reviewed",
			"rollback": "Rollback procedure documented", "notified": "Stakeholders notified",
			"change": "Change request approved (if required)", "migrations": "Database migrations tested (if applicable)",
		},
		Envs: []runbook.Environment{
			{Name: "development", Aliases: []string{"dev"}, Deployers: []string{"deployer"}, Rollback: []string{"requester"}},
			{Name: "staging", Aliases: []string{"stg", "stage"}, Deployers: []string{"deployer"},
				Approval:  runbook.ApprovalRule{Roles: []string{"tech-lead"}, Count: 1, AllowSelf: true},
				Checklist: []string{"merged", "tests", "artifact", "plan"}, Rollback: []string{"devops"}},
			{Name: "production", Aliases: []string{"prod", "prd"}, Deployers: []string{"deployer"},
				Approval:  runbook.ApprovalRule{Roles: []string{"release-manager"}, Count: 1, AllowSelf: false},
				Checklist: []string{"merged", "tests", "artifact", "plan", "rollback", "notified", "change", "migrations"},
				Requires:  "staging", Windows: []runbook.Window{window},
				Monitor: 30 * time.Minute, Rollback: []string{"incident-response", "release-manager"}},
		},
		Apps: map[string]runbook.App{"demo": {Name: "demo", Executor: "fake"}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// WithRole sets role's members on platform (replacing the role).
func WithRole(role, platform string, ids ...string) PolicyOption {
	return func(p *runbook.Policy) {
		p.Roles[role] = runbook.Role{Members: map[string][]string{platform: ids}}
	}
}

// WithEnv changes the environment named env.
func WithEnv(env string, change func(*runbook.Environment)) PolicyOption {
	return func(p *runbook.Policy) {
		for i := range p.Envs {
			if p.Envs[i].Name == env {
				change(&p.Envs[i])
				return
			}
		}
		panic("runbooktest: no environment " + env)
	}
}
