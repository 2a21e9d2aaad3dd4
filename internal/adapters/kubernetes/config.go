// Package kubernetes deploys apps to Kubernetes with client-go: it sets the
// image of an app's workloads, follows their rollouts with watches and the
// rules of `kubectl rollout status`, fails fast with a diagnosis when pods
// cannot start, and undoes a rollout the way `kubectl rollout undo` does.
package kubernetes

import (
	"fmt"
	"net/url"
	"shipmate/internal/fielderr"
	"strings"
	"time"
)

// Config is an app's `kubernetes:` block.
type Config struct {
	// Kubeconfig is the kubeconfig file; empty means in-cluster
	// configuration, else $KUBECONFIG, else ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context (empty: the current one).
	Context string `yaml:"context"`
	// Namespace holds the workloads; "{env}" in it is replaced by the
	// environment's name (shop-{env}).
	Namespace string `yaml:"namespace"`
	// Workloads are "deployment/NAME" or "statefulset/NAME".
	Workloads []string `yaml:"workloads"`
	// Container is the container whose image is set (default: the only one).
	Container string `yaml:"container"`
	// Image is the image reference, with "{version}" for the version.
	Image string `yaml:"image"`
	// ProgressDeadline fails a rollout not complete by then (default 10m).
	ProgressDeadline time.Duration `yaml:"progress_deadline"`
	// OnFailure is "rollback" (default) or "hold"; it is the app's
	// on_failure, accepted here too.
	OnFailure string `yaml:"on_failure"`
	// Registry holds credentials for the registry of Image, used to look
	// up a version's digest (nil: the workloads' pull secrets, else
	// anonymous).
	Registry *RegistryAuth `yaml:"registry"`
}

// RegistryAuth is a user name and password (or token) for the image's
// registry. The password is a secret: it never appears in a log line or
// an error text.
type RegistryAuth struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// DefaultProgressDeadline bounds a rollout when the app sets no deadline.
const DefaultProgressDeadline = 10 * time.Minute

// Workload is one of an app's workloads.
type Workload struct {
	Kind string // "deployment" or "statefulset"
	Name string
}

func (w Workload) String() string { return w.Kind + "/" + w.Name }

// ParseWorkload parses "deployment/NAME" or "statefulset/NAME" (the
// plural and short forms kubectl takes are accepted too).
func ParseWorkload(s string) (Workload, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return Workload{}, fmt.Errorf("workload %q: want kind/name such as deployment/checkout-api", s)
	}
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy":
		return Workload{Kind: "deployment", Name: name}, nil
	case "statefulset", "statefulsets", "sts":
		return Workload{Kind: "statefulset", Name: name}, nil
	}
	return Workload{}, fmt.Errorf("workload %q: kind %q is not supported (deployment or statefulset)", s, kind)
}

// Validate checks the block and fills defaults.
func (c *Config) Validate() error {
	if c.Namespace == "" {
		return fielderr.New("namespace", "required")
	}
	if len(c.Workloads) == 0 {
		return fielderr.New("workloads", "at least one is required, such as deployment/checkout-api")
	}
	for i, w := range c.Workloads {
		if _, err := ParseWorkload(w); err != nil {
			return fielderr.New(fmt.Sprintf("workloads[%d]", i), "%v", err)
		}
	}
	if !strings.Contains(c.Image, "{version}") {
		return fielderr.New("image", "%q must contain {version}, such as registry.example.com/shop/checkout:{version}", c.Image)
	}
	if c.ProgressDeadline < 0 {
		return fielderr.New("progress_deadline", "must not be negative")
	}
	if c.ProgressDeadline == 0 {
		c.ProgressDeadline = DefaultProgressDeadline
	}
	switch c.OnFailure {
	case "", "rollback", "hold":
	default:
		return fielderr.New("on_failure", "want rollback or hold, got %q", c.OnFailure)
	}
	if _, err := c.repository(); err != nil {
		return fielderr.New("image", "%v", err)
	}
	if r := c.Registry; r != nil && (r.Username == "" || r.Password == "") {
		// A password given through an unset ${VAR} is empty: say so
		// rather than ask the registry anonymously.
		return fielderr.New("registry", "username and password go together (the password may be a token; an unset ${VAR} leaves it empty)")
	}
	return nil
}

// namespace returns the namespace for env.
func (c *Config) namespace(env string) string { return strings.ReplaceAll(c.Namespace, "{env}", env) }

// image returns the image reference of version.
func (c *Config) image(version string) string {
	return strings.ReplaceAll(c.Image, "{version}", version)
}

// versionOf recovers the version from an image reference made from the
// template, or "" when the image does not follow it.
func (c *Config) versionOf(image string) string {
	prefix, suffix, _ := strings.Cut(c.Image, "{version}")
	if !strings.HasPrefix(image, prefix) || !strings.HasSuffix(image, suffix) || len(image) <= len(prefix)+len(suffix) {
		return ""
	}
	return image[len(prefix) : len(image)-len(suffix)]
}

// Smoke is one HTTP check run after a rollout (an app's `smoke:` list).
type Smoke struct {
	URL string `yaml:"url"`
	// Expect is the status code wanted (default 200).
	Expect int `yaml:"expect"`
	// Contains, if set, must appear in the response body.
	Contains string `yaml:"contains"`
	// Timeout bounds the request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// CheckSmoke checks an app's smoke checks.
func CheckSmoke(smoke []Smoke) error {
	for i, s := range smoke {
		at := fmt.Sprintf("[%d].", i)
		u, err := url.Parse(s.URL)
		if s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fielderr.New(at+"url", "want an http(s) URL, got %q", s.URL)
		}
		if s.Expect != 0 && (s.Expect < 100 || s.Expect > 599) {
			return fielderr.New(at+"expect", "want an HTTP status code, got %d", s.Expect)
		}
		if s.Timeout < 0 {
			return fielderr.New(at+"timeout", "must not be negative")
		}
	}
	return nil
}
