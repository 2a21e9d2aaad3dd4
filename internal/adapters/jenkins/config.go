package jenkins

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"shipmate/internal/fielderr"
	"slices"
	"strconv"
	"strings"
	"time"

	"shipmate/internal/runbook"
)

// ServerConfig is the top-level `jenkins:` block. User and Token are the
// credentials of a Jenkins user with an API token (no CSRF crumb is needed
// then); the token is a secret and never appears in logs or errors.
type ServerConfig struct {
	URL   string `yaml:"url"`
	User  string `yaml:"user"`
	Token string `yaml:"token"`
}

// Validate checks the block. Its errors start with the key at fault.
func (c *ServerConfig) Validate() error {
	if c.URL == "" {
		return fielderr.New("url", "required, such as https://ci.example.com")
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		// url.Parse quotes the input; the input could hold a password.
		return fielderr.New("url", "not a URL, want one such as https://ci.example.com")
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fielderr.New("url", "want http:// or https:// and a host, such as https://ci.example.com")
	case u.User != nil:
		return fielderr.New("url", "put the credentials in user: and token:, not in the URL")
	case u.RawQuery != "" || u.Fragment != "":
		return fielderr.New("url", "must not have a query or fragment")
	}
	if (c.User == "") != (c.Token == "") {
		return fielderr.New("token", "user and token go together (a Jenkins user and one of its API tokens)")
	}
	return nil
}

// Defaults of JobConfig.
const (
	DefaultTimeout = 60 * time.Minute
	UnstableFail   = "fail"
	UnstableOK     = "succeed"
)

// JobConfig is an app's `jenkins:` block: the job that deploys it.
type JobConfig struct {
	// Job is the job's full name; folders are separated by "/"
	// ("deploy/billing" is /job/deploy/job/billing).
	Job string `yaml:"job"`
	// Params are the build parameters. Values may hold the placeholders
	// {app} {version} {env} {run} {previous_version} {requester}.
	Params map[string]string `yaml:"params"`
	// RollbackParams are merged over Params for a rollback. There
	// {version} and {previous_version} are both the version being returned
	// to, and {replaced_version} the one being replaced.
	RollbackParams map[string]string `yaml:"rollback_params"`
	// Unstable is "fail" (default) or "succeed": what an UNSTABLE build
	// counts as.
	Unstable string `yaml:"unstable"`
	// Timeout bounds the whole build, its time in the queue included
	// (default 60m). A build still running then is stopped.
	Timeout time.Duration `yaml:"timeout"`
}

// Validate checks the block and fills in its defaults. Its errors start
// with the key at fault ("job: required").
func (c *JobConfig) Validate() error {
	if c.Job == "" {
		return fielderr.New("job", "required, such as deploy/billing")
	}
	if _, err := jobPath(c.Job); err != nil {
		return fielderr.New("job", "%v", err)
	}
	if err := checkParams("params", c.Params); err != nil {
		return err
	}
	if err := checkParams("rollback_params", c.RollbackParams); err != nil {
		return err
	}
	switch c.Unstable {
	case "":
		c.Unstable = UnstableFail
	case UnstableFail, UnstableOK:
	default:
		return fielderr.New("unstable", "want %s or %s, got %q", UnstableFail, UnstableOK, c.Unstable)
	}
	if c.Timeout < 0 {
		return fielderr.New("timeout", "must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return nil
}

// CheckConfig is one `checks:` entry's `jenkins:` block: a checklist item
// that passes when CI built the version.
type CheckConfig struct {
	// Job is the CI job's full name ("ci/billing").
	Job string `yaml:"job"`
	// BuildMatching picks the build (default "{version}"): the newest
	// build whose display name or VERSION parameter equals it decides.
	BuildMatching string `yaml:"build_matching"`
	// Artifact, if set, must have been archived by that build
	// ("billing-{version}.tar.gz").
	Artifact string `yaml:"artifact"`
}

// Validate checks the block and fills in its defaults. Its errors start
// with the key at fault.
func (c *CheckConfig) Validate() error {
	if c.Job == "" {
		return fielderr.New("job", "required, such as ci/billing")
	}
	if _, err := jobPath(c.Job); err != nil {
		return fielderr.New("job", "%v", err)
	}
	if c.BuildMatching == "" {
		c.BuildMatching = "{version}"
	}
	if err := checkTemplate("build_matching", c.BuildMatching); err != nil {
		return err
	}
	return checkTemplate("artifact", c.Artifact)
}

// jobPath turns "deploy/billing" into "/job/deploy/job/billing", each
// name escaped.
func jobPath(name string) (string, error) {
	var b strings.Builder
	for part := range strings.SplitSeq(name, "/") {
		if strings.TrimSpace(part) == "" {
			return "", fmt.Errorf("%q: want a job name, or folder/name, with no empty parts", name)
		}
		b.WriteString("/job/" + url.PathEscape(part))
	}
	return b.String(), nil
}

var (
	placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)
	placeholders  = []string{"{app}", "{version}", "{env}", "{run}", "{previous_version}", "{replaced_version}", "{requester}"}
)

func checkTemplate(key, s string) error {
	for _, ph := range placeholderRE.FindAllString(s, -1) {
		if !slices.Contains(placeholders, ph) {
			return fielderr.New(key, "unknown placeholder %s (known: %s)", ph, strings.Join(placeholders, " "))
		}
	}
	return nil
}

func checkParams(key string, params map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if strings.TrimSpace(name) == "" {
			return fielderr.New(key, "a parameter has an empty name")
		}
		if err := checkTemplate(key+"."+name, params[name]); err != nil {
			return err
		}
	}
	return nil
}

// expand fills the placeholders of s from j.
func expand(s string, j runbook.Job) string {
	return strings.NewReplacer(
		"{app}", j.App,
		"{version}", j.Version,
		"{env}", j.Env,
		"{run}", strconv.FormatUint(j.RunID, 10),
		"{previous_version}", j.PreviousVersion,
		"{replaced_version}", j.PreviousVersion,
		"{requester}", j.Requester,
	).Replace(s)
}
