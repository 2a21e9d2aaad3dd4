package prometheus

import (
	"net/url"
	"time"

	"shipmate/internal/fielderr"
)

// DefaultTimeout bounds one query when the block does not say.
const DefaultTimeout = 10 * time.Second

// Config is the top-level `prometheus:` block: the server the
// post-deployment analysis queries, and how to log in to it. BearerToken
// and Password are secrets and never appear in logs or errors.
type Config struct {
	URL         string `yaml:"url"`
	BearerToken string `yaml:"bearer_token"`
	// Username and Password log in with basic auth.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS configures an https:// server's certificates (nil: the
	// system's authorities).
	TLS *TLS `yaml:"tls"`
	// Timeout bounds one query (default DefaultTimeout).
	Timeout time.Duration `yaml:"timeout"`
}

// TLS names the PEM files of a TLS connection to Prometheus.
type TLS struct {
	// CA is the authority that signed the server's certificate ("": the
	// system's).
	CA string `yaml:"ca"`
	// Cert and Key are a client certificate and its key, for a server
	// that asks for one.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// InsecureSkipVerify accepts any server certificate: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate checks the block and fills in its defaults. Its errors start
// with the key at fault.
func (c *Config) Validate() error {
	if c.URL == "" {
		return fielderr.New("url", "required, such as http://prometheus:9090")
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		// url.Parse quotes the input, which could hold a password.
		return fielderr.New("url", "not a URL, want one such as http://prometheus:9090")
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fielderr.New("url", "want http:// or https:// and a host, such as http://prometheus:9090")
	case u.User != nil:
		return fielderr.New("url", "put the credentials in username: and password:, or bearer_token:, not in the URL")
	case u.RawQuery != "" || u.Fragment != "":
		return fielderr.New("url", "must not have a query or fragment")
	}
	if (c.Username == "") != (c.Password == "") {
		return fielderr.New("password", "username and password go together (basic auth; an unset ${VAR} leaves one empty)")
	}
	if c.BearerToken != "" && c.Username != "" {
		return fielderr.New("bearer_token", "use bearer_token or username and password, not both")
	}
	if t := c.TLS; t != nil {
		if (t.Cert == "") != (t.Key == "") {
			return fielderr.New("tls.key", "cert and key go together (a client certificate and its key)")
		}
		if u.Scheme != "https" {
			return fielderr.New("tls", "only for an https:// url")
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return nil
}
