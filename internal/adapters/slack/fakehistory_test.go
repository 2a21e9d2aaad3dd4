package slack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
)

// The fake's conversations.history and message metadata, as Slack's docs
// describe them.
//
// chat.postMessage and chat.update take "metadata", a JSON object
// {"event_type": "...", "event_payload": {...}}; an update without it
// leaves the message's metadata as it was.
//
// conversations.history returns a channel's messages (not the replies in
// threads), newest first, with ts between "oldest" and "latest" (both
// left out unless "inclusive"), at most "limit" a page (default 100, at
// most 999). A page that is not the last says "has_more": true and gives
// response_metadata.next_cursor to ask for the next. Messages carry
// their metadata only when asked with include_all_metadata.

// AddMessage puts a message on the fake as if someone else had posted it
// (another app, when m.BotID is not the fake's bot), and returns its ts.
// Posts does not list it; history, Message and update see it.
func (f *fakeSlack) AddMessage(m fakeMessage) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.TS, m.At = f.nextTS(), f.now()
	f.msgs[m.Channel+"/"+m.TS] = &m
	return m.TS
}

// fakeCheckMetadata returns the error Slack answers for a message's
// metadata field, or "" when it is fine (or absent).
func fakeCheckMetadata(s string) string {
	if s == "" {
		return ""
	}
	var md struct {
		EventType    *string         `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(s), &md); err != nil {
		return "invalid_metadata_format"
	}
	if md.EventType == nil || *md.EventType == "" || !strings.HasPrefix(strings.TrimSpace(string(md.EventPayload)), "{") {
		return "invalid_metadata_schema"
	}
	return ""
}

// fakeMicros turns a ts ("1767603600.000123", or whole seconds) into
// microseconds.
func fakeMicros(ts string) (int64, bool) {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, false
	}
	frac = (frac + "000000")[:6]
	us, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	return s*1e6 + us, true
}

// fakeCursor is the opaque cursor of the page that starts at ts, shaped
// like Slack's (base64 of "next_ts:…").
func fakeCursor(ts string) string {
	return base64.StdEncoding.EncodeToString([]byte("next_ts:" + ts))
}

// fakeTrue reads a boolean argument as Slack does ("1" or "true").
func fakeTrue(s string) bool { return s == "1" || s == "true" }

func (f *fakeSlack) history(w http.ResponseWriter, r *http.Request) {
	channel := r.Form.Get("channel")
	if channel == "" {
		writeFakeError(w, "channel_not_found")
		return
	}
	limit := 100
	if s := r.Form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeFakeError(w, "invalid_limit")
			return
		}
		limit = min(n, 999)
	}
	lo, hi := int64(0), int64(1)<<62
	var ok bool
	if s := r.Form.Get("oldest"); s != "" {
		if lo, ok = fakeMicros(s); !ok {
			writeFakeError(w, "invalid_ts_oldest")
			return
		}
	}
	if s := r.Form.Get("latest"); s != "" {
		if hi, ok = fakeMicros(s); !ok {
			writeFakeError(w, "invalid_ts_latest")
			return
		}
	}
	inclusive := fakeTrue(r.Form.Get("inclusive"))
	from, fromIn := hi, inclusive // the newest ts the page may start at, and whether it may be that one
	if c := r.Form.Get("cursor"); c != "" {
		raw, err := base64.StdEncoding.DecodeString(c)
		ts, found := strings.CutPrefix(string(raw), "next_ts:")
		if from, ok = fakeMicros(ts); err != nil || !found || !ok {
			writeFakeError(w, "invalid_cursor")
			return
		}
		fromIn = true // the cursor names the first message of the page
	}
	msgs := f.historyOf(channel, func(us int64) bool {
		return (us > lo || inclusive && us == lo) && (us < from || fromIn && us == from)
	})
	more := len(msgs) > limit
	page := msgs[:min(limit, len(msgs))]
	out := make([]map[string]any, 0, len(page))
	for _, m := range page {
		out = append(out, f.historyMessage(m, fakeTrue(r.Form.Get("include_all_metadata"))))
	}
	res := map[string]any{"messages": out, "has_more": more, "pin_count": 0}
	if more {
		res["response_metadata"] = map[string]any{"next_cursor": fakeCursor(msgs[limit].TS)}
	}
	writeFakeOK(w, res)
}

// historyOf returns the messages of channel, not in threads, whose ts
// in returns true for, newest first, as they stand.
func (f *fakeSlack) historyOf(channel string, in func(us int64) bool) []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var msgs []fakeMessage
	for _, m := range f.msgs {
		us, _ := fakeMicros(m.TS)
		if m.Channel == channel && (m.ThreadTS == "" || m.ThreadTS == m.TS) && in(us) {
			msgs = append(msgs, *m)
		}
	}
	slices.SortFunc(msgs, func(a, b fakeMessage) int {
		x, _ := fakeMicros(a.TS)
		y, _ := fakeMicros(b.TS)
		return int(y - x) // newest first
	})
	return msgs
}

// historyMessage is m as conversations.history shows it.
func (f *fakeSlack) historyMessage(m fakeMessage, withMetadata bool) map[string]any {
	out := map[string]any{"type": "message", "ts": m.TS, "text": m.Text, "bot_id": m.BotID}
	if m.BotID == f.BotID {
		out["user"] = f.BotUserID
	}
	if m.Blocks != "" {
		out["blocks"] = json.RawMessage(m.Blocks)
	}
	if withMetadata && m.Metadata != "" {
		out["metadata"] = json.RawMessage(m.Metadata)
	}
	return out
}

// The fake's conversations.history pages and filters as Slack's docs say,
// as slack-go reads it.
func TestFakeHistory(t *testing.T) {
	f := newFakeSlack(t)
	api := f.Client()
	ctx := context.Background()
	var ts []string
	for i := range 5 {
		opts := []slack.MsgOption{slack.MsgOptionText(fmt.Sprint("m", i), false)}
		if i == 2 {
			opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "e", EventPayload: map[string]any{"k": "v"}}))
		}
		_, t1, err := api.PostMessageContext(ctx, "C1", opts...)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, t1)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts[0])); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C2", slack.MsgOptionText("elsewhere", false)); err != nil {
		t.Fatal(err)
	}
	read := func(p slack.GetConversationHistoryParameters) (got []string, metadata int) {
		p.ChannelID, p.Limit = "C1", 2
		for {
			res, err := api.GetConversationHistoryContext(ctx, &p)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Messages) > 2 || res.HasMore != (res.ResponseMetaData.NextCursor != "") {
				t.Fatalf("page of %d messages, has_more %v, cursor %q", len(res.Messages), res.HasMore, res.ResponseMetaData.NextCursor)
			}
			for _, m := range res.Messages {
				got = append(got, m.Timestamp)
				if m.Metadata.EventType == "e" && m.Metadata.EventPayload["k"] == "v" {
					metadata++
				}
			}
			if !res.HasMore {
				return got, metadata
			}
			p.Cursor = res.ResponseMetaData.NextCursor
		}
	}
	newestFirst := []string{ts[4], ts[3], ts[2], ts[1], ts[0]}
	for _, tc := range []struct {
		name     string
		p        slack.GetConversationHistoryParameters
		want     []string
		metadata int
	}{
		{"all", slack.GetConversationHistoryParameters{}, newestFirst, 0},
		{"with metadata", slack.GetConversationHistoryParameters{IncludeAllMetadata: true}, newestFirst, 1},
		{"after oldest", slack.GetConversationHistoryParameters{Oldest: ts[1]}, newestFirst[:3], 0},
		{"from oldest", slack.GetConversationHistoryParameters{Oldest: ts[1], Inclusive: true}, newestFirst[:4], 0},
		{"before latest", slack.GetConversationHistoryParameters{Latest: ts[3], Oldest: ts[0]}, newestFirst[2:4], 0},
	} {
		got, md := read(tc.p)
		if d := cmp.Diff(tc.want, got); d != "" || md != tc.metadata {
			t.Errorf("%s: messages (-want +got):\n%s\nwith metadata %d, want %d", tc.name, d, md, tc.metadata)
		}
	}
}
