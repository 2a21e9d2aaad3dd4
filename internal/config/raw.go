package config

import (
	"reflect"
	"time"

	"go.yaml.in/yaml/v3"
)

// The raw types mirror the YAML file. Their yaml tags are the only keys
// accepted; the decoder refuses any other with its path.

type rawConfig struct {
	Listen       string                     `yaml:"listen"`
	Store        string                     `yaml:"store"`
	StoreTLS     *rawStoreTLS               `yaml:"store_tls"`
	LeaderLease  time.Duration              `yaml:"leader_lease"`
	Retention    time.Duration              `yaml:"retention"`
	People       entries[entries[idList]]   `yaml:"people"` // person → platform → id(s)
	Roles        entries[entries[[]string]] `yaml:"roles"`  // role → people, platform or <platform>_groups → ids
	Checklist    entries[string]            `yaml:"checklist"`
	Validation   entries[string]            `yaml:"validation"`
	Environments entries[rawEnv]            `yaml:"environments"`
	Apps         entries[rawApp]            `yaml:"apps"`
	Chat         rawChat                    `yaml:"chat"`
	Jenkins      *Block                     `yaml:"jenkins"`

	// The post-deployment analysis: its checks and their server.
	Analysis   entries[rawMetricCheck] `yaml:"analysis"`
	Prometheus *Block                  `yaml:"prometheus"`

	// The outgoing webhooks.
	Notify []rawNotify `yaml:"notify"`
	// Announce names the channels where each environment's runs are
	// summarised; apps.<app>.announce overrides it.
	Announce entries[rawAnnounce] `yaml:"announce"`
}

type rawEnv struct {
	Aliases     []string       `yaml:"aliases"`
	Deployers   []string       `yaml:"deployers"`
	Approval    *rawApproval   `yaml:"approval"`
	Checklist   []string       `yaml:"checklist"`
	Validation  []string       `yaml:"validation"`
	Requires    string         `yaml:"requires"`
	Windows     []string       `yaml:"windows"`
	Freezes     []rawFreeze    `yaml:"freezes"`
	Monitor     time.Duration  `yaml:"monitor"`
	HealthEvery *time.Duration `yaml:"health_every"`
	// RollbackProcedure makes rollbacks follow the handbook's procedure.
	RollbackProcedure bool     `yaml:"rollback_procedure"`
	Rollback          []string `yaml:"rollback"`
	// NotifyApprovers is how approvers are called: mention or dm.
	NotifyApprovers string `yaml:"notify_approvers"`

	Analysis           []string       `yaml:"analysis"`
	AnalysisEvery      *time.Duration `yaml:"analysis_every"`
	FailuresToRollback *int           `yaml:"failures_to_rollback"`
}

// rawApproval is the scalar "none" or a mapping of approvalFields.
type rawApproval struct {
	None   bool
	Fields approvalFields
}

type approvalFields struct {
	Roles     []string       `yaml:"roles"`
	Count     *int           `yaml:"count"`
	AllowSelf *bool          `yaml:"allow_self"`
	Expires   *time.Duration `yaml:"expires"`
	Remind    time.Duration  `yaml:"remind"`
}

const approvalNone = "none"

func (a *rawApproval) decodeYAML(d *decoder, n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode {
		s, err := d.scalar(n, path, "")
		if err != nil {
			return err
		}
		if s != approvalNone {
			return errorAt(n, path, "want %q or a mapping {roles, count, allow_self, expires, remind}, got %q", approvalNone, s)
		}
		a.None = true
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errorAt(n, path, "want %q or a mapping {roles, count, allow_self, expires, remind}, got %s", approvalNone, describe(n))
	}
	return d.decodeStruct(n, path, reflect.ValueOf(&a.Fields).Elem())
}

type rawApp struct {
	Executor   string            `yaml:"executor"`
	OnFailure  string            `yaml:"on_failure"`
	Exec       *Block            `yaml:"exec"`
	Kubernetes *Block            `yaml:"kubernetes"`
	Smoke      *Block            `yaml:"smoke"`
	Jenkins    *Block            `yaml:"jenkins"`
	Checks     entries[rawCheck] `yaml:"checks"` // checklist item → how Shipmate checks it

	// Analysis, when given, replaces the environments' analysis checks.
	Analysis *[]string `yaml:"analysis"`
	// Announce overrides announce: for this app's runs.
	Announce entries[rawAnnounce] `yaml:"announce"`
}

// rawCheck is one automated checklist item: exactly one checker's block.
type rawCheck struct {
	Jenkins *Block `yaml:"jenkins"`
}

type rawChat struct {
	Web     rawWeb   `yaml:"web"`
	Slack   rawSlack `yaml:"slack"`
	Discord *Block   `yaml:"discord"`
}

type rawSlack struct {
	BotToken        string `yaml:"bot_token"`
	SigningSecret   string `yaml:"signing_secret"`
	AppToken        string `yaml:"app_token"`
	APIURL          string `yaml:"api_url"`
	AnnounceChannel string `yaml:"announce_channel"`
}

type rawWeb struct {
	Enabled    bool   `yaml:"enabled"`
	UserHeader string `yaml:"user_header"`
	Listen     string `yaml:"listen"`
	// TrustedProxies is nil when the key is absent, and an empty list
	// when it is written as [].
	TrustedProxies *[]string `yaml:"trusted_proxies"`
}

// idList is one id or a list of them: people: {rita: {slack: U0RM}}.
type idList []string

func (l *idList) decodeYAML(d *decoder, n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		s, err := d.scalar(n, path, "an id")
		if err != nil {
			return err
		}
		*l = idList{s}
		return nil
	}
	var ids []string
	if err := d.decodeSlice(n, path, reflect.ValueOf(&ids).Elem()); err != nil {
		return err
	}
	*l = ids
	return nil
}
