package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNotify(t *testing.T) {
	text := valid + `notify:
  - url: https://hooks.example.com/shipmate
    secret: ${HOOK_SECRET}
    events: [transition, lock]
    apps: [web]
    envs: [production]
  - {url: "http://127.0.0.1:9000/", secret: s2}
`
	c, err := Parse([]byte(text), func(v string) (string, bool) {
		if v == "HOOK_SECRET" {
			return "hush", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Notify{
		{URL: "https://hooks.example.com/shipmate", Secret: "hush", Events: []string{"transition", "lock"}, Apps: []string{"web"}, Envs: []string{"production"}},
		{URL: "http://127.0.0.1:9000/", Secret: "s2"},
	}
	if d := cmp.Diff(want, c.Notify); d != "" {
		t.Errorf("Notify (-want +got):\n%s", d)
	}
}

func TestNotifyErrors(t *testing.T) {
	// valid has 23 lines: notify starts on line 24, its first item on 25.
	for _, tc := range []struct{ name, notify, want string }{
		{"no url", "  - {secret: s}\n",
			`notify[0].url: required (is its ${VAR} set?) (line 25)`},
		{"unset url", "  - {url: '${HOOK_URL}', secret: s}\n",
			`notify[0].url: required (is its ${VAR} set?) (line 25)`},
		{"not http", "  - {url: 'ftp://example.com/x', secret: s}\n",
			`notify[0].url: want an http:// or https:// URL (line 25)`},
		{"no host", "  - {url: 'https:///x', secret: s}\n",
			`notify[0].url: want an http:// or https:// URL (line 25)`},
		{"no secret", "  - {url: 'https://example.com/x', secret: '${HOOK_SECRET}'}\n",
			`notify[0].secret: required: receivers check each event's signature with it (is its ${VAR} set?) (line 25)`},
		{"twice", "  - {url: 'https://example.com/x', secret: s}\n  - {url: 'https://example.com/x', secret: t}\n",
			`notify[1].url: the same URL as notify[0] (line 26)`},
		{"unknown event", "  - url: https://example.com/x\n    secret: s\n    events: [transition, output]\n",
			`notify[0].events[1]: unknown event "output" (want one of requested, transition, checklist_tick, approval, rejection, emergency_override, step, reminder, approvals_voided, note, automated_check, incident_freeze, incident_unfreeze, lock, unlock) (line 27)`},
		{"unknown app", "  - {url: 'https://example.com/x', secret: s, apps: [api]}\n",
			`notify[0].apps[0]: unknown app "api" (want one of web) (line 25)`},
		{"alias is not a name", "  - {url: 'https://example.com/x', secret: s, envs: [prod]}\n",
			`notify[0].envs[0]: unknown environment "prod" (want one of staging, production) (line 25)`},
		{"unknown key", "  - {url: 'https://example.com/x', secret: s, headers: {}}\n",
			`notify[0].headers: unknown key (line 25)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(valid+"notify:\n"+tc.notify), noVars)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", err, tc.want)
			}
		})
	}
}

// The commented notify block of configs/example.yaml loads once
// uncommented.
func TestExampleNotify(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "# notify:") })
	if start < 0 {
		t.Fatal("configs/example.yaml has no commented notify block")
	}
	for i := start; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
		lines[i] = strings.TrimPrefix(strings.TrimPrefix(lines[i], "#"), " ")
	}
	c, err := Parse([]byte(strings.Join(lines, "\n")), func(v string) (string, bool) {
		if v == "SHIPMATE_HOOK_SECRET" {
			return "hush", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notify) != 1 || c.Notify[0].Secret != "hush" || len(c.Notify[0].Envs) != 1 {
		t.Errorf("Notify = %+v", c.Notify)
	}
}
