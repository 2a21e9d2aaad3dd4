package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"shipmate/internal/probe"
)

// service names Jenkins in probe results.
const service = "jenkins"

// Probe tries Jenkins for `bot check --online`: who the credentials log
// in as (GET /me/api/json), then each app's deploy job (it exists, can be
// built and declares the parameters the app sends) and each checklist
// item's CI job (it exists). Every error is free of the token.
func Probe(ctx context.Context, c *Client, deploy []JobConfig, ci []string) []probe.Result {
	out := []probe.Result{c.probeWhoami(ctx)}
	if !out[0].OK {
		// Wrong credentials or no Jenkins: every job would say so again.
		return out
	}
	seen := map[string]bool{}
	for _, j := range deploy {
		if !seen[j.Job] {
			seen[j.Job] = true
			out = append(out, c.probeJob(ctx, j.Job, &j))
		}
	}
	for _, name := range ci {
		if !seen[name] {
			seen[name] = true
			out = append(out, c.probeJob(ctx, name, nil))
		}
	}
	return out
}

func (c *Client) probeWhoami(ctx context.Context) probe.Result {
	const target = "whoami"
	res, err := c.call(ctx, http.MethodGet, "/me/api/json", url.Values{"tree": {"id,fullName"}}, nil, 64<<10)
	if err != nil {
		return probe.Fail(service, target, c.redact(err))
	}
	var me struct {
		ID       string `json:"id"`
		FullName string `json:"fullName"`
	}
	if err := json.Unmarshal(res.body, &me); err != nil || me.ID == "" {
		return probe.Fail(service, target, fmt.Errorf("%s/me answered with something other than Jenkins's user JSON", c.base))
	}
	version := res.header.Get("X-Jenkins")
	if version == "" {
		return probe.Fail(service, target, fmt.Errorf("%s does not look like Jenkins: its answer has no X-Jenkins header", c.base))
	}
	who := "user " + me.ID
	if me.FullName != "" && me.FullName != me.ID {
		who += " (" + me.FullName + ")"
	}
	return probe.Pass(service, target, fmt.Sprintf("%s on Jenkins %s at %s", who, version, c.base))
}

// probeJob looks at job name; cfg, when set, is the deploy job's block,
// whose parameters the job must declare.
func (c *Client) probeJob(ctx context.Context, name string, cfg *JobConfig) probe.Result {
	target := "job " + name
	path, err := jobPath(name)
	if err != nil {
		return probe.Fail(service, target, err)
	}
	job, err := c.job(ctx, name, path)
	var none *errNoJob
	switch {
	case errors.As(err, &none):
		return probe.Fail(service, target, errors.New("not found (404)"))
	case err != nil:
		return probe.Fail(service, target, c.redact(err))
	case cfg == nil:
		return probe.Pass(service, target, "found (CI job of a checklist item)")
	case job.Buildable == nil:
		return probe.Fail(service, target, fmt.Errorf("not a job that can be built (it is a %s)", shortClass(job.Class)))
	case !*job.Buildable:
		return probe.Fail(service, target, errors.New("disabled"))
	}
	declared := job.params()
	sent := slices.Sorted(maps.Keys(cfg.Params))
	for k := range cfg.RollbackParams {
		if !slices.Contains(sent, k) {
			sent = append(sent, k)
		}
	}
	slices.Sort(sent)
	if len(declared) == 0 {
		if len(sent) > 0 {
			return probe.Fail(service, target, fmt.Errorf("declares no parameters, but the app sends %s", strings.Join(sent, ", ")))
		}
		return probe.Pass(service, target, "found, buildable, no parameters")
	}
	var unknown []string
	for _, k := range sent {
		if !slices.Contains(declared, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return probe.Fail(service, target, fmt.Errorf("declares no parameter %s (it has %s)", strings.Join(unknown, ", "), strings.Join(declared, ", ")))
	}
	return probe.Pass(service, target, "found, buildable, parameters "+strings.Join(declared, ", "))
}
