package config

import (
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"shipmate/internal/runbook"
)

// nameRE is what names of roles, checklist items, environments, aliases and
// apps look like: they are typed in chat commands.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

const nameRule = "use lowercase letters, digits, - and _, starting with a letter"

// platformRE is a chat platform key in a role, such as web or slack.
var platformRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// executors lists the executors built into Shipmate, each with the key of
// its block. The block itself is the adapter's to decode and check.
var executors = map[string]string{
	"exec":       "exec",
	"kubernetes": "kubernetes",
	"jenkins":    "jenkins",
}

func executorNames() string {
	names := make([]string, 0, len(executors))
	for n := range executors {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// build checks raw and turns it into a Config.
func build(d *decoder, raw *rawConfig) (*Config, error) {
	c := &Config{
		Listen:    raw.Listen,
		Store:     raw.Store,
		Retention: raw.Retention,
		Policy: runbook.Policy{
			People:     make(map[string]runbook.Person, len(raw.People)),
			Roles:      make(map[string]runbook.Role, len(raw.Roles)),
			Checklist:  make(map[string]string, len(raw.Checklist)),
			Validation: make(map[string]string, len(raw.Validation)),
			Apps:       make(map[string]runbook.App, len(raw.Apps)),
		},
		Apps: make(map[string]AppConfig, len(raw.Apps)),
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return nil, d.errorf("listen", "want host:port such as %q, got %q", DefaultListen, c.Listen)
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if err := buildStore(d, raw, c); err != nil {
		return nil, err
	}
	if err := buildChat(d, raw, c); err != nil {
		return nil, err
	}
	if url, _ := raw.Jenkins.Scalar("url"); url != "" {
		// An unset ${JENKINS_URL} leaves Jenkins off.
		c.Jenkins = raw.Jenkins
	}
	for _, step := range []func(*decoder, *rawConfig, *Config) error{buildPeople, buildRoles, buildChecklist, buildAnalysis, buildEnvs, buildApps, buildNotify, buildAnnounce} {
		if err := step(d, raw, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// buildChecklist checks the pre-deployment checklist and the
// post-deployment validation: item keys and their texts.
func buildChecklist(d *decoder, raw *rawConfig, c *Config) error {
	for _, list := range []struct {
		key   string
		items entries[string]
		into  map[string]string
	}{{"checklist", raw.Checklist, c.Policy.Checklist}, {"validation", raw.Validation, c.Policy.Validation}} {
		for _, item := range list.items {
			path := join(list.key, item.Key)
			if !nameRE.MatchString(item.Key) {
				return d.errorf(path, "invalid %s key (%s)", list.key, nameRule)
			}
			if strings.TrimSpace(item.Value) == "" {
				return d.errorf(path, "the item's text must not be empty")
			}
			list.into[item.Key] = item.Value
		}
	}
	return nil
}

func buildEnvs(d *decoder, raw *rawConfig, c *Config) error {
	if len(raw.Environments) == 0 {
		return d.errorf("environments", "at least one environment is required")
	}
	// names maps every environment name and alias to its environment, so
	// that each word in "deploy app 1.2 to X" means one environment.
	type owner struct{ env, as string }
	names := make(map[string]owner)
	for _, e := range raw.Environments {
		path := join("environments", e.Key)
		if !nameRE.MatchString(e.Key) {
			return d.errorf(path, "invalid environment name (%s)", nameRule)
		}
		if o, taken := names[e.Key]; taken {
			return d.errorf(path, "%q is already %s of environment %q", e.Key, o.as, o.env)
		}
		names[e.Key] = owner{e.Key, "the name"}
		for i, a := range e.Value.Aliases {
			apath := index(join(path, "aliases"), i)
			if !nameRE.MatchString(a) {
				return d.errorf(apath, "invalid alias %q (%s)", a, nameRule)
			}
			if o, taken := names[a]; taken {
				return d.errorf(apath, "%q is already %s of environment %q", a, o.as, o.env)
			}
			names[a] = owner{e.Key, "an alias"}
		}
	}

	for i, e := range raw.Environments {
		env, err := buildEnv(d, c, raw.Environments[:i], e.Key, &e.Value)
		if err != nil {
			return err
		}
		c.Policy.Envs = append(c.Policy.Envs, env)
	}
	return nil
}

// buildEnv checks one environment; earlier are those before it in the
// promotion order.
func buildEnv(d *decoder, c *Config, earlier entries[rawEnv], name string, raw *rawEnv) (runbook.Environment, error) {
	path := join("environments", name)
	env := runbook.Environment{
		Name:              name,
		Aliases:           raw.Aliases,
		Deployers:         raw.Deployers,
		Checklist:         raw.Checklist,
		Validation:        raw.Validation,
		Requires:          raw.Requires,
		Monitor:           raw.Monitor,
		HealthEvery:       runbook.DefaultHealthEvery,
		RollbackProcedure: raw.RollbackProcedure,
		Rollback:          raw.Rollback,
	}

	if len(raw.Deployers) == 0 {
		return env, d.errorf(join(path, "deployers"), "at least one role is required")
	}
	if err := buildNotifyApprovers(d, path, raw.NotifyApprovers, &env); err != nil {
		return env, err
	}
	if err := checkRoles(d, c, join(path, "deployers"), raw.Deployers, false); err != nil {
		return env, err
	}

	rule, err := buildApproval(d, c, join(path, "approval"), raw.Approval)
	if err != nil {
		return env, err
	}
	env.Approval = rule

	if err := checkItemLists(d, c, path, raw); err != nil {
		return env, err
	}
	if err := checkRequires(d, c, earlier, path, name, raw.Requires); err != nil {
		return env, err
	}

	for i, spec := range raw.Windows {
		w, err := runbook.ParseWindow(spec)
		if err != nil {
			return env, d.errorf(index(join(path, "windows"), i), "%v", err)
		}
		env.Windows = append(env.Windows, w)
	}
	if env.Freezes, err = buildFreezes(d, join(path, "freezes"), raw.Freezes); err != nil {
		return env, err
	}

	if raw.HealthEvery != nil {
		if *raw.HealthEvery == 0 {
			return env, d.errorf(join(path, "health_every"), "must be more than 0")
		}
		env.HealthEvery = *raw.HealthEvery
	}

	if err := checkRoles(d, c, join(path, "rollback"), raw.Rollback, true); err != nil {
		return env, err
	}
	return env, buildEnvAnalysis(d, c, path, raw, &env)
}

// checkItemLists checks that an environment's checklist and validation
// name defined items, each once.
func checkItemLists(d *decoder, c *Config, path string, raw *rawEnv) error {
	for _, list := range []struct {
		key   string
		items []string
		known map[string]string
	}{{"checklist", raw.Checklist, c.Policy.Checklist}, {"validation", raw.Validation, c.Policy.Validation}} {
		seen := make(map[string]bool, len(list.items))
		for i, item := range list.items {
			ipath := index(join(path, list.key), i)
			if _, ok := list.known[item]; !ok {
				return d.errorf(ipath, "unknown %s item %q (define it under %s:)", list.key, item, list.key)
			}
			if seen[item] {
				return d.errorf(ipath, "duplicate %s item %q", list.key, item)
			}
			seen[item] = true
		}
	}
	return nil
}

// checkRequires checks that requires, when set, names an environment
// listed before this one.
func checkRequires(d *decoder, c *Config, earlier entries[rawEnv], path, name, requires string) error {
	if requires != "" {
		rpath := join(path, "requires")
		found := slices.ContainsFunc(earlier, func(e entry[rawEnv]) bool { return e.Key == requires })
		switch {
		case found:
		case requires == name:
			return d.errorf(rpath, "an environment cannot require itself")
		case slices.ContainsFunc(c.Policy.Envs, func(e runbook.Environment) bool { return slices.Contains(e.Aliases, requires) }):
			return d.errorf(rpath, "%q is an alias; use the environment's name", requires)
		default:
			return d.errorf(rpath, "%q is not an earlier environment (requires must name one listed before %q)", requires, name)
		}
	}
	return nil
}

// buildApproval checks an environment's approval: "none", or who approves,
// how many, and for how long.
func buildApproval(d *decoder, c *Config, apath string, approval *rawApproval) (runbook.ApprovalRule, error) {
	var rule runbook.ApprovalRule
	switch {
	case approval == nil:
		return rule, d.errorf(apath, "required (write %q for none)", "approval: none")
	case !approval.None:
		f := approval.Fields
		if len(f.Roles) == 0 {
			return rule, d.errorf(join(apath, "roles"), "at least one role is required")
		}
		if err := checkRoles(d, c, join(apath, "roles"), f.Roles, false); err != nil {
			return rule, err
		}
		rule = runbook.ApprovalRule{
			Roles:     f.Roles,
			Count:     1,
			AllowSelf: true,
			Expires:   runbook.DefaultApprovalExpiry,
			Remind:    f.Remind,
		}
		if f.Count != nil {
			if *f.Count < 1 {
				return rule, d.errorf(join(apath, "count"), "must be at least 1, got %d (write %q for none)", *f.Count, "approval: none")
			}
			rule.Count = *f.Count
		}
		if f.AllowSelf != nil {
			rule.AllowSelf = *f.AllowSelf
		}
		if f.Expires != nil {
			if *f.Expires == 0 {
				return rule, d.errorf(join(apath, "expires"), "must be more than 0")
			}
			rule.Expires = *f.Expires
		}
		if rule.Remind >= rule.Expires {
			return rule, d.errorf(join(apath, "remind"), "must be less than expires (%v)", rule.Expires)
		}
	}
	return rule, nil
}

// checkRoles checks that each of roles is defined under roles:, or is
// RoleRequester where that is allowed.
func checkRoles(d *decoder, c *Config, path string, roles []string, requester bool) error {
	for i, r := range roles {
		if _, ok := c.Policy.Roles[r]; ok {
			continue
		}
		if r == runbook.RoleRequester {
			if requester {
				continue
			}
			return d.errorf(index(path, i), "%q is only allowed in rollback", r)
		}
		return d.errorf(index(path, i), "unknown role %q", r)
	}
	return nil
}

func buildApps(d *decoder, raw *rawConfig, c *Config) error {
	for _, a := range raw.Apps {
		path := join("apps", a.Key)
		if !nameRE.MatchString(a.Key) {
			return d.errorf(path, "invalid app name (%s)", nameRule)
		}
		r := &a.Value
		app := AppConfig{Executor: r.Executor, OnFailure: r.OnFailure}
		if app.OnFailure == "" {
			app.OnFailure = OnFailureRollback
		}
		if app.OnFailure != OnFailureRollback && app.OnFailure != OnFailureHold {
			return d.errorf(join(path, "on_failure"), "want %s or %s, got %q", OnFailureRollback, OnFailureHold, app.OnFailure)
		}
		if r.Executor == "" {
			return d.errorf(path, "executor is required")
		}
		if _, ok := executors[r.Executor]; !ok {
			return d.errorf(join(path, "executor"), "unknown executor %q (known: %s)", r.Executor, executorNames())
		}
		if err := checkBlocks(d, path, r); err != nil {
			return err
		}
		app.Exec, app.Kubernetes, app.Smoke, app.Jenkins = r.Exec, r.Kubernetes, r.Smoke, r.Jenkins
		if err := kubernetesOnFailure(d, path, r, &app); err != nil {
			return err
		}
		if err := buildChecks(d, path, r, c, &app); err != nil {
			return err
		}
		analysis, err := appAnalysis(d, c, path, r.Analysis)
		if err != nil {
			return err
		}
		c.Apps[a.Key] = app
		c.Policy.Apps[a.Key] = runbook.App{
			Name:          a.Key,
			Executor:      r.Executor,
			HoldOnFailure: app.OnFailure == OnFailureHold,
			Checks:        slices.Sorted(maps.Keys(app.Checks)),
			Analysis:      analysis,
		}
	}
	return nil
}

// checkBlocks refuses an executor's block on an app that uses another one,
// and wants the block of the one it uses.
func checkBlocks(d *decoder, path string, r *rawApp) error {
	blocks := map[string]*Block{"exec": r.Exec, "kubernetes": r.Kubernetes, "jenkins": r.Jenkins}
	for _, name := range slices.Sorted(maps.Keys(blocks)) {
		switch b := blocks[name]; {
		case b != nil && r.Executor != name:
			return d.errorf(join(path, name), "only allowed with executor: %s", name)
		case b == nil && r.Executor == name:
			return d.errorf(join(path, name), "required with executor: %s", name)
		}
	}
	if r.Smoke != nil && r.Executor != "kubernetes" {
		return d.errorf(join(path, "smoke"), "smoke checks are run by the kubernetes executor; with exec, put them in exec.verify")
	}
	return nil
}

// kubernetesOnFailure takes an app's on_failure from its kubernetes:
// block, where it is accepted too.
func kubernetesOnFailure(d *decoder, path string, r *rawApp, app *AppConfig) error {
	v, ok := r.Kubernetes.Scalar("on_failure")
	if !ok || v == "" {
		return nil
	}
	kpath := join(path, "kubernetes")
	if v != OnFailureRollback && v != OnFailureHold {
		return d.errorf(join(kpath, "on_failure"), "want %s or %s, got %q", OnFailureRollback, OnFailureHold, v)
	}
	if r.OnFailure != "" && r.OnFailure != v {
		return d.errorf(join(kpath, "on_failure"), "contradicts %s.on_failure (%q)", path, r.OnFailure)
	}
	app.OnFailure = v
	return nil
}

// buildChecks checks an app's automated checklist items: each names an
// item of the checklist and one way to check it, on a configured server.
func buildChecks(d *decoder, path string, r *rawApp, c *Config, app *AppConfig) error {
	if r.Executor == "jenkins" && c.Jenkins == nil {
		return d.errorf(join(path, "executor"), "jenkins needs the top-level jenkins: block (url, user, token)")
	}
	for _, e := range r.Checks {
		cpath := join(join(path, "checks"), e.Key)
		if _, ok := c.Policy.Checklist[e.Key]; !ok {
			return d.errorf(cpath, "unknown checklist item %q (define it under checklist:)", e.Key)
		}
		if e.Value.Jenkins == nil {
			return d.errorf(cpath, "say how to check it, e.g. jenkins: {job: ci/billing, build_matching: \"{version}\"}")
		}
		if c.Jenkins == nil {
			return d.errorf(join(cpath, "jenkins"), "needs the top-level jenkins: block (url, user, token)")
		}
		if app.Checks == nil {
			app.Checks = map[string]*Block{}
		}
		app.Checks[e.Key] = e.Value.Jenkins
	}
	return nil
}
