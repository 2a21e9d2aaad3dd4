package jenkins

import (
	"context"
	"fmt"
	"maps"
	"path"
	"time"

	"shipmate/internal/runbook"
)

// checkTimeout bounds one check: the engine waits for it.
const checkTimeout = 20 * time.Second

// Checker checks checklist items against CI builds: an item passes when
// the newest build of its job for the version succeeded (and archived the
// artifact, if one is named). It implements runbook.Checker and is safe for
// concurrent use.
type Checker struct {
	c      *Client
	checks map[string]CheckConfig
}

var _ runbook.Checker = (*Checker)(nil)

// NewChecker returns a checker of the items in checks (item key → check).
// The configuration should have been validated with CheckConfig.Validate;
// an invalid entry fails when it is checked.
func NewChecker(c *Client, checks map[string]CheckConfig) *Checker {
	checks = maps.Clone(checks)
	for k, cc := range checks {
		if cc.BuildMatching == "" {
			cc.BuildMatching = "{version}"
			checks[k] = cc
		}
	}
	return &Checker{c: c, checks: checks}
}

// Check implements runbook.Checker. An error means the check could not be
// made (Jenkins unreachable, no such job); a build that is missing, failed
// or still running is a result that is not OK.
func (k *Checker) Check(ctx context.Context, j runbook.Job, item string) (runbook.CheckResult, error) {
	cc, ok := k.checks[item]
	if !ok {
		return runbook.CheckResult{}, fmt.Errorf("no Jenkins check is configured for item %q", item)
	}
	if k.c == nil {
		return runbook.CheckResult{}, fmt.Errorf("no Jenkins server is configured for item %q", item)
	}
	jobPath, err := jobPath(cc.Job)
	if err != nil {
		return runbook.CheckResult{}, fmt.Errorf("item %q: job: %v", item, err)
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if _, err := k.c.ensureInit(ctx); err != nil {
		return runbook.CheckResult{}, k.c.redact(err)
	}
	jobURL, builds, err := k.c.recentBuilds(ctx, cc.Job, jobPath)
	if err != nil {
		return runbook.CheckResult{}, k.c.redact(err)
	}
	if jobURL == "" {
		jobURL = k.c.base + jobPath + "/"
	}
	want := expand(cc.BuildMatching, j)
	// Jenkins lists the newest build first.
	for _, b := range builds {
		if !b.matches(want) {
			continue
		}
		res := runbook.CheckResult{Link: b.URL}
		if res.Link == "" {
			res.Link = k.c.base + buildPath(jobPath, b.Number) + "/"
		}
		switch {
		case b.Building || b.Result == "":
			res.Detail = fmt.Sprintf("%s #%d for %s is still running", cc.Job, b.Number, want)
		case b.Result != "SUCCESS":
			res.Detail = fmt.Sprintf("%s #%d for %s is %s", cc.Job, b.Number, want, b.Result)
		case cc.Artifact == "":
			res.OK, res.Detail = true, fmt.Sprintf("%s #%d: SUCCESS", cc.Job, b.Number)
		default:
			art := expand(cc.Artifact, j)
			if b.archived(art) {
				res.OK, res.Detail = true, fmt.Sprintf("%s #%d: SUCCESS, has %s", cc.Job, b.Number, art)
			} else {
				res.Detail = fmt.Sprintf("%s #%d for %s is SUCCESS but archived no %s", cc.Job, b.Number, want, art)
			}
		}
		return res, nil
	}
	return runbook.CheckResult{
		Detail: fmt.Sprintf("no build of %s for %s among the last %d", cc.Job, want, recentBuilds),
		Link:   jobURL,
	}, nil
}

// matches reports whether the build is the one for want: its display name
// or its VERSION parameter equals it.
func (b *jobBuild) matches(want string) bool {
	if b.DisplayName == want {
		return true
	}
	for _, a := range b.Actions {
		for _, p := range a.Parameters {
			if v, ok := p.Value.(string); ok && p.Name == "VERSION" && v == want {
				return true
			}
		}
	}
	return false
}

// archived reports whether the build archived a file named name (or at the
// relative path name).
func (b *jobBuild) archived(name string) bool {
	for _, a := range b.Artifacts {
		if a.FileName == name || a.RelativePath == name || path.Base(a.RelativePath) == name {
			return true
		}
	}
	return false
}
