package slack

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"shipmate/internal/probe"
)

func TestProbe(t *testing.T) {
	f := newFakeSlack(t)
	newFakeSocket(t, f)
	socket := slack.New(f.Token, slack.OptionAPIURL(f.URL+"/api/"), slack.OptionAppLevelToken("xapp-test"))
	got := Probe(context.Background(), socket, true)
	want := []probe.Result{
		{Service: "slack", Target: "auth.test", OK: true, Detail: "team Shipmate Test, bot @shipmate (UBOT)"},
		{Service: "slack", Target: "apps.connections.open", OK: true, Detail: "the app-level token opens Socket Mode"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("socket mode (-want +got):\n%s", diff)
	}
	if got := Probe(context.Background(), f.Client(), false); len(got) != 1 || !got[0].OK {
		t.Errorf("HTTP mode: %+v, want auth.test alone, ok", got)
	}
}

func TestProbeFails(t *testing.T) {
	f := newFakeSlack(t)
	newFakeSocket(t, f)
	const wrong = "xapp-1-A0WRONG-1234567890-abcdef"
	api := slack.New("xoxb-revoked-0123456789", slack.OptionAPIURL(f.URL+"/api/"), slack.OptionAppLevelToken(wrong))
	got := Probe(context.Background(), api, true)
	if len(got) != 2 || got[0].OK || got[1].OK {
		t.Fatalf("got %+v, want two failures", got)
	}
	if got[0].Detail != "invalid_auth" || got[1].Detail != "invalid_auth" {
		t.Errorf("details %q, %q, want Slack's invalid_auth", got[0].Detail, got[1].Detail)
	}

	f.ServerErrorNext("auth.test", 1)
	got = Probe(context.Background(), f.Client(), false)
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Detail, "500") {
		t.Errorf("Slack down: %+v, want a failure naming the status", got)
	}
	for _, r := range got {
		if strings.Contains(r.Detail, "xox") || strings.Contains(r.Detail, "xapp") {
			t.Errorf("a token in %q", r.Detail)
		}
	}
}
