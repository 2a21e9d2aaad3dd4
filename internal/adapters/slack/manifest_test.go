package slack

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// calledMethods are the Web API methods Shipmate called on a fake Slack
// during this package's tests.
var calledMethods sync.Map

// methodScopes are the bot token scopes each Web API method Shipmate calls
// needs, from each method's page at api.slack.com/methods ("" for none).
// apps.connections.open takes the app-level token (connections:write),
// not a bot scope. users.info, which the fake also serves, is not called.
var methodScopes = map[string][]string{
	"auth.test":             {""},
	"chat.postMessage":      {"chat:write"},
	"chat.update":           {"chat:write"},
	"chat.postEphemeral":    {"chat:write"},
	"chat.getPermalink":     {""},
	"conversations.history": {"channels:history", "groups:history"},
	"conversations.open":    {"im:write"},
	"usergroups.users.list": {"usergroups:read"},
	"apps.connections.open": {""},
	// A slash command's response_url takes no token at all.
	"response_url": {""},
}

// TestMain checks, after every test of the package ran, that the shipped
// app manifests grant every method Shipmate called.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := manifestsCoverCalls(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: deploy/slack manifests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func manifestsCoverCalls() error {
	var called []string
	calledMethods.Range(func(k, _ any) bool { called = append(called, k.(string)); return true })
	sort.Strings(called)
	if len(called) < 5 {
		return fmt.Errorf("the tests called only %v: the record of calls is broken", called)
	}
	for _, file := range manifestFiles {
		man, err := readManifest(file)
		if err != nil {
			return err
		}
		for _, method := range called {
			scopes, ok := methodScopes[method]
			if !ok {
				return fmt.Errorf("Shipmate calls %s: add the scopes it needs to methodScopes and to the manifests", method)
			}
			for _, sc := range scopes {
				if sc != "" && !slices.Contains(man.OAuth.Scopes.Bot, sc) {
					return fmt.Errorf("%s: Shipmate calls %s, which needs the %s scope", file, method, sc)
				}
			}
		}
	}
	return nil
}

var manifestFiles = []string{"manifest.yaml", "manifest-socket.yaml"}

// manifest is what Shipmate's app manifests set.
type manifest struct {
	Features struct {
		SlashCommands []struct {
			Command string `yaml:"command"`
			URL     string `yaml:"url"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Events struct {
			URL       string   `yaml:"request_url"`
			BotEvents []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			Enabled bool   `yaml:"is_enabled"`
			URL     string `yaml:"request_url"`
		} `yaml:"interactivity"`
		SocketMode bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func readManifest(name string) (*manifest, error) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "slack", name))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &m, nil
}

// The manifests create the commands Shipmate answers, send Slack's
// requests to the routes it serves, subscribe to the event it handles,
// and ask for no scope nothing needs.
func TestManifestsMatchWhatShipmateServes(t *testing.T) {
	a := &Adapter{}
	mux := http.NewServeMux()
	a.Routes(mux)
	needed := map[string]bool{"commands": true, "app_mentions:read": true}
	for _, scopes := range methodScopes {
		for _, s := range scopes {
			needed[s] = true
		}
	}
	for _, file := range manifestFiles {
		m, err := readManifest(file)
		if err != nil {
			t.Fatal(err)
		}
		var cmds []string
		for _, c := range m.Features.SlashCommands {
			cmds = append(cmds, c.Command)
			checkRoute(t, mux, file, c.URL, m.Settings.SocketMode)
		}
		if !slices.Equal(cmds, []string{"/deploy", "/rollback"}) {
			t.Errorf("%s: slash commands %v, want /deploy and /rollback", file, cmds)
		}
		checkRoute(t, mux, file, m.Settings.Events.URL, m.Settings.SocketMode)
		checkRoute(t, mux, file, m.Settings.Interactivity.URL, m.Settings.SocketMode)
		if !m.Settings.Interactivity.Enabled || !slices.Equal(m.Settings.Events.BotEvents, []string{"app_mention"}) {
			t.Errorf("%s: interactivity %v, bot events %v; want interactivity on and app_mention", file, m.Settings.Interactivity.Enabled, m.Settings.Events.BotEvents)
		}
		for _, s := range m.OAuth.Scopes.Bot {
			if !needed[s] {
				t.Errorf("%s asks for the %s scope, which nothing Shipmate does needs", file, s)
			}
		}
	}
}

// checkRoute checks that a manifest's request URL is one of Shipmate's
// routes (and that a Socket Mode manifest has none).
func checkRoute(t *testing.T, mux *http.ServeMux, file, raw string, socket bool) {
	t.Helper()
	if socket {
		if raw != "" {
			t.Errorf("%s is on Socket Mode but sends requests to %s", file, raw)
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || !strings.HasPrefix(u.Path, "/slack/") {
		t.Errorf("%s: request URL %q, want https://<host>/slack/…", file, raw)
		return
	}
	if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, u.Path, nil)); pattern == "" {
		t.Errorf("%s: Slack would POST to %s, which Shipmate does not serve", file, u.Path)
	}
}
