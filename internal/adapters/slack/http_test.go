package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/runbook/runbooktest"
)

// TestFlowSignatures checks that only correctly signed, fresh requests
// reach the engine.
func TestFlowSignatures(t *testing.T) {
	f := newFlow(t, flowOptions{})
	body := f.slashForm("U0DEV", flowRelease, "/deploy", "demo v1.2.0 staging", f.triggerID())
	now := f.clock.Now()
	sign := func(secret string, at time.Time, b []byte) http.Header {
		ts, sig := signRequest(secret, at, b)
		return http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {sig}}
	}
	tampered := bytes.Replace(body, []byte("v1.2.0"), []byte("v6.6.6"), 1)

	for _, tc := range []struct {
		name   string
		path   string
		body   []byte
		header http.Header
	}{
		{"no headers", "/slack/commands", body, http.Header{}},
		{"no timestamp", "/slack/commands", body, http.Header{"X-Slack-Signature": sign(flowSecret, now, body)["X-Slack-Signature"]}},
		{"no signature", "/slack/commands", body, http.Header{"X-Slack-Request-Timestamp": sign(flowSecret, now, body)["X-Slack-Request-Timestamp"]}},
		{"wrong secret", "/slack/commands", body, sign("not-the-secret", now, body)},
		{"stale timestamp", "/slack/commands", body, sign(flowSecret, now.Add(-6*time.Minute), body)},
		{"future timestamp", "/slack/commands", body, sign(flowSecret, now.Add(6*time.Minute), body)},
		{"tampered body", "/slack/commands", tampered, sign(flowSecret, now, body)},
		{"unsigned interaction", "/slack/interactions", []byte(`payload=%7B%22type%22%3A%22block_actions%22%7D`), http.Header{}},
		{"unsigned event", "/slack/events", []byte(`{"type":"url_verification","challenge":"x"}`), http.Header{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.as(t)
			ct := formType
			if tc.path == "/slack/events" {
				ct = "application/json"
			}
			res := f.raw(tc.path, ct, tc.body, tc.header)
			if res.status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401; body %q", res.status, res.body)
			}
		})
	}
	f.settle()
	if rs := f.runs(); len(rs) != 0 {
		t.Errorf("badly signed requests created %d runs", len(rs))
	}
	if calls := f.chatCalls(); calls != "chat.postMessage=0 chat.update=0 chat.postEphemeral=0" {
		t.Errorf("badly signed requests reached Slack: %s", calls)
	}
	if n := f.fake.Calls("users.info"); n != 0 {
		t.Errorf("badly signed requests looked up %d users", n)
	}

	t.Run("too large", func(t *testing.T) {
		f := f.as(t)
		big := append(slices.Clone(body), []byte("&pad="+strings.Repeat("a", maxBody))...)
		res := f.signed("/slack/commands", formType, big, nil)
		if res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", res.status)
		}
	})
	t.Run("url_verification", func(t *testing.T) {
		f := f.as(t)
		const challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
		res := f.signed("/slack/events", "application/json",
			[]byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"`+challenge+`","type":"url_verification"}`), nil)
		if res.status != http.StatusOK || string(res.body) != challenge {
			t.Errorf("status %d body %q, want 200 and the challenge", res.status, res.body)
		}
	})
	t.Run("the same request signed", func(t *testing.T) {
		f := f.as(t)
		ack := f.ephemeral(f.signed("/slack/commands", formType, body, nil))
		if id := f.runOf(ack); id != 1 {
			t.Errorf("run %d, want #1", id)
		}
	})
}

// TestFlowDuplicates checks that Slack's retries and repeated clicks act
// once.
func TestFlowDuplicates(t *testing.T) {
	f := newFlow(t, flowOptions{})

	trigger := f.triggerID()
	body := f.slashForm("U0DEV", flowRelease, "/deploy", "demo v1.2.0 staging", trigger)
	id := f.runOf(f.ephemeral(f.signed("/slack/commands", formType, body, nil)))
	res := f.signed("/slack/commands", formType, body,
		http.Header{"X-Slack-Retry-Num": {"1"}, "X-Slack-Retry-Reason": {"http_timeout"}})
	if res.status != http.StatusOK || len(res.body) != 0 {
		t.Errorf("retried command: status %d body %q, want 200 and nothing", res.status, res.body)
	}
	f.settle()
	if rs := f.runs(); len(rs) != 1 {
		t.Fatalf("%d runs after a retried command, want 1", len(rs))
	}
	if n := len(f.fake.ChannelPosts(flowRelease)); n != 1 {
		t.Fatalf("%d messages after a retried command, want 1", n)
	}
	f.accepted(f.click("U0LEAD", id, ticks(id, f.checklistOf("staging")...)))

	// approveAll delivers 20 approvals of run at once and waits for them.
	approveAll := func(t *testing.T, f *flow, bodies [][]byte) {
		var wg sync.WaitGroup
		statuses := make([]int, len(bodies))
		for i, b := range bodies {
			wg.Go(func() {
				// Each delivery signed on its own, the same way: identical
				// bodies give identical requests.
				ts, sig := signRequest(flowSecret, f.clock.Now(), b)
				req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/slack/interactions", bytes.NewReader(b))
				req.Header.Set("Content-Type", formType)
				req.Header.Set("X-Slack-Request-Timestamp", ts)
				req.Header.Set("X-Slack-Signature", sig)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				statuses[i] = res.StatusCode
			})
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusOK {
				t.Errorf("delivery %d: status %d", i, s)
			}
		}
		f.settle()
	}

	t.Run("identical deliveries", func(t *testing.T) {
		f := f.as(t)
		respURL := f.fake.ResponseURL()
		b := f.interactionBody("U0LEAD", id, f.triggerID(), respURL, button(runbook.ButtonApprove, id))
		bodies := make([][]byte, 20)
		for i := range bodies {
			bodies[i] = b
		}
		approveAll(t, f, bodies)
		if n := len(f.events(id, runbook.EvApproval)); n != 1 {
			t.Errorf("%d approval events, want 1", n)
		}
		if n := f.exec.Steps(runbooktest.StepDeploy, "staging", "v1.2.0"); n != 1 {
			t.Errorf("%d deploys, want 1", n)
		}
		f.wantState(id, runbook.StateSucceeded)
		if rs := f.responses(respURL); len(rs) != 0 {
			t.Errorf("repeated deliveries were answered %d times (%q); a retry needs no answer", len(rs), rs[0].Text)
		}
	})

	t.Run("repeated clicks", func(t *testing.T) {
		f := f.as(t)
		id := f.request("U0DEV", flowRelease, "demo v1.3.0 staging")
		f.settle()
		f.accepted(f.click("U0LEAD", id, ticks(id, f.checklistOf("staging")...)))
		bodies := make([][]byte, 20)
		urls := make([]string, 20)
		for i := range bodies {
			urls[i] = f.fake.ResponseURL()
			bodies[i] = f.interactionBody("U0LEAD", id, f.triggerID(), urls[i], button(runbook.ButtonApprove, id))
		}
		approveAll(t, f, bodies)
		if n := len(f.events(id, runbook.EvApproval)); n != 1 {
			t.Errorf("%d approval events, want 1", n)
		}
		if n := f.exec.Steps(runbooktest.StepDeploy, "staging", "v1.3.0"); n != 1 {
			t.Errorf("%d deploys, want 1", n)
		}
		f.wantState(id, runbook.StateSucceeded)
		refusals := 0
		for _, u := range urls {
			for _, r := range f.responses(u) {
				refusals++
				if r.ResponseType != "ephemeral" || !strings.Contains(r.Text, fmt.Sprintf("run #%d is", id)) || !strings.Contains(r.Text, "nothing to approve") {
					t.Errorf("refusal %q, want the run is past approval", r.Text)
				}
			}
		}
		if refusals != 19 {
			t.Errorf("%d refusals, want 19 (every click but the one that counted)", refusals)
		}
	})

	t.Run("commands without trigger_id", func(t *testing.T) {
		f := f.as(t)
		// Not what Slack sends, but no reason to take two commands for one.
		for i := range 2 {
			body := f.slashForm("U0DEV", flowRelease, "/deploy", "status", "")
			if got := f.ephemeral(f.signed("/slack/commands", formType, body, nil)); !strings.Contains(got, "No active runs") {
				t.Errorf("status %d: %q", i, got)
			}
		}
	})
}

// mentionEvent is the Events API callback of an app_mention by user in
// channel, as Slack posts it.
func (f *flow) mentionEvent(eventID, user, channel, text string) []byte {
	f.t.Helper()
	now := f.clock.Now().Unix()
	ts := fmt.Sprintf("%d.000200", now)
	ev := map[string]any{
		"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "team_id": "T0TEST", "api_app_id": "A0SHIPMATE",
		"event": map[string]any{"type": "app_mention", "user": user, "text": text, "ts": ts, "team": "T0TEST",
			"channel": channel, "event_ts": ts},
		"type": "event_callback", "event_id": eventID, "event_time": now,
		"authorizations": []map[string]any{{"enterprise_id": nil, "team_id": "T0TEST", "user_id": f.fake.BotUserID,
			"is_bot": true, "is_enterprise_install": false}},
		"is_ext_shared_channel": false, "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0",
	}
	b, err := json.Marshal(ev)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// TestFlowAppMention runs a command given by mentioning the bot.
func TestFlowAppMention(t *testing.T) {
	f := newFlow(t, flowOptions{})
	body := f.mentionEvent("Ev0MENTION1", "U0DEV", flowRelease, "<@UBOT> deploy demo v1 dev")
	res := f.signed("/slack/events", "application/json", body, nil)
	if res.status != http.StatusOK {
		t.Fatalf("status %d body %q", res.status, res.body)
	}
	f.settle()
	rs := f.runs()
	if len(rs) != 1 || rs[0].Env != "development" || rs[0].Version != "v1" || rs[0].Requester.ID != "U0DEV" {
		t.Fatalf("runs %+v, want demo v1 in development for U0DEV", rs)
	}
	// Development needs no approval: it deploys at once.
	f.wantState(rs[0].ID, runbook.StateSucceeded)
	eph := f.fake.Ephemerals()
	if len(eph) != 1 || eph[0].Channel != flowRelease || eph[0].User != "U0DEV" || !strings.Contains(eph[0].Text, fmt.Sprintf("Run #%d", rs[0].ID)) {
		t.Fatalf("ephemeral messages %+v, want one to U0DEV naming run #%d", eph, rs[0].ID)
	}

	// Slack retries an event it thinks was not received.
	res = f.signed("/slack/events", "application/json", body, http.Header{"X-Slack-Retry-Num": {"1"}, "X-Slack-Retry-Reason": {"http_timeout"}})
	if res.status != http.StatusOK {
		t.Fatalf("retry: status %d", res.status)
	}
	f.settle()
	if n := len(f.runs()); n != 1 {
		t.Errorf("%d runs after a retried event, want 1", n)
	}
	if n := len(f.fake.Ephemerals()); n != 1 {
		t.Errorf("%d ephemeral messages after a retried event, want 1", n)
	}
}
