package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"shipmate/internal/adapters/discord/discordtest"
	"shipmate/internal/adapters/jenkins/jenkinstest"
)

// slackToken is the bot token the Slack stand-in accepts.
const slackToken = "xoxb-1-online-check-token"

// slackAuthTest serves Slack's auth.test as Slack answers it: 200 with
// {"ok":true,...} for its token (a form field or a bearer token), {"ok":false,"error":"invalid_auth"}
// for any other.
func slackAuthTest(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.URL.Path != "/api/auth.test" {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
			return
		}
		// slack-go sends the token as a form field or as a bearer token.
		_ = r.ParseForm()
		if r.Form.Get("token") != slackToken && r.Header.Get("Authorization") != "Bearer "+slackToken {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "https://acme.slack.com/", "team": "Acme",
			"user": "shipmate", "team_id": "T0ACME", "user_id": "U0BOT", "bot_id": "B0BOT"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/"
}

// onlineFixture is a configuration with Slack, Discord and a Jenkins app,
// each on its fake; slackBotToken is the token it gives Slack.
func onlineFixture(t *testing.T, slackBotToken string) (*fixture, *jenkinstest.Server) {
	api := discordtest.New(t)
	api.SetApplication("test-token", dcApp, "Shipmate")
	jk := jenkinstest.New(t, "shipmate", "11d7c0ffee5ecret7oken42")
	f := newFixture(t)
	jenkinsApp(f, jk)
	f.chat = fmt.Sprintf("  slack:\n    bot_token: %s\n    signing_secret: s1gning-secret-for-tests\n    api_url: %s\n",
		slackBotToken, slackAuthTest(t)) + discordBlock(api)
	f.writeConfig()
	return f, jk
}

// checkOnline runs `bot check --online` on f's configuration and returns
// its output and exit status.
func checkOnline(t *testing.T, f *fixture) (string, int) {
	t.Helper()
	cmd := exec.Command(botBin, "check", "--config", f.config, "--online")
	cmd.Dir = f.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if errOut.Len() > 0 {
		t.Errorf("stderr: %s", errOut.String())
	}
	return out.String(), 0
}

// TestCheckOnline runs `bot check --online` against fakes of Slack,
// Discord and Jenkins: all reachable and configured right, it prints one
// ok line per check and exits 0; with a revoked Slack token and a
// missing Jenkins job, it prints FAIL lines for them and exits 1, showing
// no secret.
func TestCheckOnline(t *testing.T) {
	t.Parallel()
	f, jk := onlineFixture(t, slackToken)
	jk.AddJob(jenkinstest.Job{Name: "deploy/billing", Params: []string{"ACTION", "APP", "RUN", "VERSION"}})
	out, code := checkOnline(t, f)
	want := []string{
		"ok    slack       auth.test: team Acme, bot @shipmate (U0BOT)",
		`ok    discord     application: "Shipmate" (` + dcApp + ")",
		"ok    discord     invite: https://discord.com/oauth2/authorize?client_id=" + dcApp + "&permissions=309237730304&scope=bot+applications.commands",
		"ok    jenkins     whoami: user shipmate on Jenkins 2.440 at " + jk.URL,
		"ok    jenkins     job deploy/billing: found, buildable, parameters ACTION, APP, RUN, VERSION",
	}
	if code != 0 || out != strings.Join(want, "\n")+"\n" {
		t.Errorf("exit %d, output:\n%s\nwant exit 0 and:\n%s", code, out, strings.Join(want, "\n"))
	}

	f, _ = onlineFixture(t, "xoxb-1-revoked-token")
	out, code = checkOnline(t, f)
	for _, line := range []string{"FAIL  slack       auth.test: invalid_auth", "FAIL  jenkins     job deploy/billing: not found (404)",
		`ok    discord     application: "Shipmate"`} {
		if !strings.Contains(out, line) {
			t.Errorf("no line %q in:\n%s", line, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, secret := range []string{"xoxb-1-revoked-token", "test-token", "11d7c0ffee5ecret7oken42", "s1gning-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows %q:\n%s", secret, out)
		}
	}
}
