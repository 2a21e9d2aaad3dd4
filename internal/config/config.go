// Package config loads shipmate's YAML configuration: the listen address,
// the store, the rule book (roles, checklist, environments, apps) and the
// chat platforms. Every mistake is refused with one line that names the
// key's path and line, such as
//
//	environments.staging.monitor: invalid duration "3x" (line 21)
//
// ${VAR} in any value is replaced from the environment; $$ is a literal $.
// An etcd store's credentials come from the environment only, from
// SHIPMATE_ETCD_USERNAME and SHIPMATE_ETCD_PASSWORD.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"shipmate/internal/chat"
	"shipmate/internal/runbook"
)

// Defaults for the top-level keys.
const (
	DefaultListen = "127.0.0.1:8080"
	DefaultStore  = "data/shipmate.db"
)

// What an app does when a deployment fails.
const (
	OnFailureRollback = "rollback" // roll back automatically (the default)
	OnFailureHold     = "hold"     // leave it for a human
)

// Config is a loaded and checked configuration.
type Config struct {
	// Listen is the address of the main HTTP server: chat endpoints,
	// health and metrics, and the web console unless Chat.Web.Listen
	// gives it a server of its own.
	Listen string
	// Store is the bbolt file, created with its folder, or the etcd that
	// several Shipmates share: etcd://host1:2379,host2:2379/prefix.
	Store string
	// StoreTLS is the store_tls block, the files of a TLS connection to
	// an etcd store (nil: a plain connection).
	StoreTLS *StoreTLS
	// StoreUsername and StorePassword log in to an etcd store (both
	// empty: no authentication). They come from the environment
	// (EnvEtcdUsername, EnvEtcdPassword), never from the file. Secrets:
	// never log them.
	StoreUsername string
	StorePassword string
	// LeaderLease is, on an etcd store, how long a leader that stops
	// renewing its lease (a crash, a pause, a partition) keeps the lead
	// before another replica takes it.
	LeaderLease time.Duration
	// Retention is how long finished runs are kept with their trails
	// (0: for good); the newest runs of each app and environment and the
	// one that deployed what runs now are kept whatever their age.
	Retention time.Duration
	// Policy is the rule book; its Envs are in file order, which is the
	// promotion order.
	Policy runbook.Policy
	// Apps holds each app's executor settings, by app name.
	Apps map[string]AppConfig
	// Chat configures the chat platforms.
	Chat ChatConfig
	// Announce routes the summaries of runs on each chat platform
	// ("slack", "discord") by environment and app, from announce: and
	// apps.<app>.announce. A platform's announce_channel is the default
	// of the last environment.
	Announce map[string]chat.Announce
	// Jenkins is the jenkins: block, the server apps and checks use (nil:
	// none, or its url unset).
	Jenkins *Block
	// Prometheus is the prometheus: block, the server the post-deployment
	// analysis queries (nil: none, or its url unset: no analysis runs).
	Prometheus *Block
	// Notify are the outgoing webhooks (none: the outbox stays empty).
	Notify []Notify
}

// AppConfig is how an app is deployed.
type AppConfig struct {
	// Executor names the adapter that runs deployments, such as "exec".
	Executor string
	// OnFailure is OnFailureRollback or OnFailureHold.
	OnFailure string
	// Exec is the app's exec: block, set when Executor is "exec".
	Exec *Block
	// Kubernetes is the app's kubernetes: block, set when Executor is
	// "kubernetes"; Smoke its HTTP checks after a rollout (nil: none).
	Kubernetes *Block
	Smoke      *Block
	// Jenkins is the app's jenkins: block, set when Executor is "jenkins".
	Jenkins *Block
	// Checks maps checklist items Shipmate checks itself to the jenkins:
	// block saying how.
	Checks map[string]*Block
}

// ChatConfig configures the chat platforms.
type ChatConfig struct {
	Web   WebConfig
	Slack SlackConfig
	// Discord is the chat.discord block, set when its bot token is.
	Discord *Block
}

// SlackConfig configures the Slack adapter. It is on when BotToken is set.
// These values are secrets: never log them.
type SlackConfig struct {
	BotToken      string
	SigningSecret string
	// AppToken (xapp-…) switches to Socket Mode instead of HTTP endpoints.
	AppToken string
	// APIURL is the Web API base URL, ending in "/" (empty: Slack's own).
	APIURL string
	// AnnounceChannel gets a one-line summary of every production run.
	AnnounceChannel string
}

// Enabled reports whether the Slack adapter should start.
func (s SlackConfig) Enabled() bool { return s.BotToken != "" }

// WebConfig configures the web console.
type WebConfig struct {
	// Enabled turns the console on.
	Enabled bool
	// UserHeader names the request header, such as X-Forwarded-User, that
	// an authenticating proxy in front of the console sets to the user id.
	// Empty means a local console where users pick their name.
	UserHeader string
	// TrustedProxies are the addresses UserHeader is believed from
	// (default: loopback); from anywhere else it gets 401.
	TrustedProxies []netip.Prefix
	// Listen, when set, gives the console and its API a server of their
	// own on this address, and the main listener does not serve them.
	Listen string
}

// ConsoleListen is the address the web console is served on.
func (c *Config) ConsoleListen() string {
	if c.Chat.Web.Listen != "" {
		return c.Chat.Web.Listen
	}
	return c.Listen
}

// Load reads and parses the configuration file at path. lookup supplies
// the values of ${VAR}; nil means os.LookupEnv.
func Load(path string, lookup func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, lookup)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse parses and checks a configuration. lookup supplies the values of
// ${VAR} (an unset variable is empty); nil means os.LookupEnv. Variables
// are expanded in the values of the parsed document, never in its text, so
// a variable's value is always a plain string.
func Parse(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, &pathError{line: extra.Line, msg: "only one YAML document is allowed"}
	}

	d := &decoder{lookup: lookup, lines: make(map[string]int)}
	var raw rawConfig
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode && !isNull(root) {
			return nil, &pathError{line: root.Line, msg: "the configuration must be a mapping of keys such as roles, environments and apps"}
		}
		if err := d.decodeStruct(root, "", reflect.ValueOf(&raw).Elem()); err != nil {
			return nil, err
		}
	}
	return build(d, &raw)
}

// yamlError words a YAML syntax error as "invalid YAML: line N: ...".
func yamlError(err error) error {
	return fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}
