package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// fakeSlack is a fake Slack Web API for this package's tests. It speaks
// Slack's wire format, so the real slack-go client talks to it over HTTP:
// requests are form-encoded POSTs (or GETs with a query) to /api/<method>,
// carrying the token as a "token" field or an "Authorization: Bearer"
// header; answers are JSON, {"ok":true,...} or {"ok":false,"error":"..."}
// with status 200, and a rate limit is status 429 with Retry-After.
//
// It is written rather than slacktest's server because slacktest gives
// every message of one second the same ts, lacks chat.update and
// usergroups.users.list, answers users.info with a canned user, and cannot
// inject faults.
//
// Use it like this:
//
//	f := newFakeSlack(t)                    // started; closed at the test's end
//	api := f.Client()                       // slack.New(f.Token, slack.OptionAPIURL(f.URL+"/api/"))
//	f.SetUser("U1", "alice", "Alice Liddell", "al")
//	f.SetGroup("S1", "U1", "U2")
//	f.FailNext("usergroups.users.list", -1, "plan_upgrade_required") // every call, until ClearFaults
//	f.RateLimitNext("chat.update", 1, 1)    // the next call answers 429, Retry-After: 1
//	f.ServerErrorNext("chat.postMessage", 2) // the next two calls answer 500
//	... exercise the code ...
//	f.WaitFor(func() bool { return len(f.Updates()) == 2 }, time.Second)
//	f.LatestText("C1", ts), f.LatestBlocks("C1", ts), f.ThreadReplies(ts), f.Calls("users.info")
//
// Web API methods served: auth.test, chat.postMessage, chat.update,
// chat.postEphemeral, chat.getPermalink, conversations.history (see
// fakehistory_test.go), conversations.open (direct_test.go), users.info and usergroups.users.list. Add or replace others with HandleMethod (faults,
// delays and call counts still apply), and serve non-API paths (a Socket
// Mode /ws endpoint) with Handle.
//
// Interaction response_url messages: ResponseURL returns a URL under
// /response/ whose POSTs are recorded (see Responses); its faults and call
// counts go by the method name "response_url".
//
// All methods are safe for concurrent use.
type fakeSlack struct {
	// URL is the server's base URL, without a trailing slash.
	URL string
	// Token is the token requests must carry ("xoxb-test").
	Token string
	// Team, BotUserID and BotID are what auth.test answers.
	Team, BotUserID, BotID string

	t   testing.TB
	srv *httptest.Server
	mux *http.ServeMux
	now func() time.Time // stamps messages: the real clock, or a test's (set before any call)

	mu         sync.Mutex
	lastTS     int64                       // the last ts handed out, in microseconds
	msgs       map[string]*fakeMessage     // channel+"/"+ts → the message as it stands
	posts      []fakeMessage               // chat.postMessage calls that succeeded
	updates    []fakeMessage               // chat.update calls that succeeded
	ephemerals []fakeMessage               // chat.postEphemeral calls that succeeded
	responses  []fakeResponse              // POSTs to response URLs
	calls      map[string]int              // method → calls, faults included
	faults     map[string][]fakeFault      // method → faults for the next calls, in order
	always     map[string]fakeFault        // method → fault for every call
	delays     map[string]time.Duration    // method → time to wait before answering
	users      map[string]slack.User       // users.info
	groups     map[string][]string         // usergroups.users.list
	methods    map[string]http.HandlerFunc // HandleMethod's handlers
	responseN  int
}

// fakeMessage is a message as the fake recorded it: one call of
// chat.postMessage, chat.update or chat.postEphemeral, or a message as it
// stands after its updates.
type fakeMessage struct {
	Channel  string
	TS       string // the message's ts (for an ephemeral message, the ts answered)
	ThreadTS string // the parent's ts for a reply in a thread
	User     string // the user an ephemeral message was shown to
	Text     string
	Blocks   string // the blocks JSON as sent; "" when none were
	Metadata string // the message metadata JSON as sent; "" when none was
	BotID    string // the bot that posted the message
	At       time.Time
}

// fakeResponse is one POST to a response URL.
type fakeResponse struct {
	Path            string // under /response/
	Body            []byte // as sent: JSON
	Text            string
	ResponseType    string // "ephemeral" or "in_channel"
	ReplaceOriginal bool
	DeleteOriginal  bool
	Blocks          string // the blocks JSON; "" when none
	At              time.Time
}

// fakeFault is an answer forced on a call.
type fakeFault struct {
	status     int    // HTTP status; 200 with code for an API error
	retryAfter string // Retry-After header of a 429
	code       string // "error" of an ok:false answer
}

// newFakeSlack starts a fake Slack; it is closed when the test ends.
func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	f := &fakeSlack{
		Token: "xoxb-test", Team: "Shipmate Test", BotUserID: "UBOT", BotID: "BBOT",
		t:    t,
		mux:  http.NewServeMux(),
		msgs: map[string]*fakeMessage{}, calls: map[string]int{}, faults: map[string][]fakeFault{},
		always: map[string]fakeFault{}, delays: map[string]time.Duration{}, users: map[string]slack.User{},
		groups: map[string][]string{}, methods: map[string]http.HandlerFunc{}, now: time.Now,
	}
	f.mux.HandleFunc("/api/", f.serveAPI)
	f.mux.HandleFunc("/response/", f.serveResponse)
	f.srv = httptest.NewServer(f.mux)
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// Client returns a slack-go client of the fake, with its token.
func (f *fakeSlack) Client() *slack.Client {
	return slack.New(f.Token, slack.OptionAPIURL(f.URL+"/api/"))
}

// ResponseURL returns a new response URL (as an interaction carries)
// whose POSTs the fake records.
func (f *fakeSlack) ResponseURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.responseN++
	return fmt.Sprintf("%s/response/%d", f.URL, f.responseN)
}

// Handle serves a path outside the Web API, such as a Socket Mode
// websocket. Like http.ServeMux, it panics on a pattern already served.
func (f *fakeSlack) Handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

// HandleMethod adds or replaces the Web API method (such as
// "conversations.info"). The token is checked, and faults and delays
// apply, before h runs; h may answer with writeFakeOK or writeFakeError.
func (f *fakeSlack) HandleMethod(method string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.methods[method] = h
}

// SetUser makes users.info know a user. Any name may be empty.
func (f *fakeSlack) SetUser(id, name, realName, displayName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = slack.User{ID: id, Name: name, RealName: realName,
		Profile: slack.UserProfile{RealName: realName, DisplayName: displayName}}
}

// SetGroup makes usergroups.users.list know a user group and its members.
func (f *fakeSlack) SetGroup(id string, members ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[id] = slices.Clone(members)
}

// FailNext makes the next n calls of method answer {"ok":false,"error":code};
// n < 0 makes every call fail so until ClearFaults.
func (f *fakeSlack) FailNext(method string, n int, code string) {
	f.addFault(method, n, fakeFault{status: http.StatusOK, code: code})
}

// RateLimitNext makes the next n calls of method answer 429 with
// Retry-After: retryAfter (seconds); n < 0: every call, until ClearFaults.
func (f *fakeSlack) RateLimitNext(method string, n, retryAfter int) {
	f.addFault(method, n, fakeFault{status: http.StatusTooManyRequests, retryAfter: strconv.Itoa(retryAfter), code: "ratelimited"})
}

// ServerErrorNext makes the next n calls of method answer 500 with an HTML
// page, as Slack's front ends do; n < 0: every call, until ClearFaults.
func (f *fakeSlack) ServerErrorNext(method string, n int) {
	f.addFault(method, n, fakeFault{status: http.StatusInternalServerError})
}

func (f *fakeSlack) addFault(method string, n int, ft fakeFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		f.always[method] = ft
		return
	}
	for range n {
		f.faults[method] = append(f.faults[method], ft)
	}
}

// ClearFaults removes the faults set for method.
func (f *fakeSlack) ClearFaults(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.faults, method)
	delete(f.always, method)
}

// SetDelay makes every call of method wait d before it is answered (0: no
// wait), so that tests can make calls overlap.
func (f *fakeSlack) SetDelay(method string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delays[method] = d
}

// Calls returns how many calls of method the fake received, faulted ones
// included.
func (f *fakeSlack) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// Posts returns the messages posted with chat.postMessage (thread replies
// included), oldest first.
func (f *fakeSlack) Posts() []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts)
}

// Updates returns the chat.update calls that succeeded, oldest first.
func (f *fakeSlack) Updates() []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates)
}

// Ephemerals returns the messages posted with chat.postEphemeral.
func (f *fakeSlack) Ephemerals() []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ephemerals)
}

// Responses returns the messages POSTed to response URLs.
func (f *fakeSlack) Responses() []fakeResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.responses)
}

// ChannelPosts returns the messages posted to channel, thread replies
// excluded, as they stand after their updates.
func (f *fakeSlack) ChannelPosts(channel string) []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeMessage
	for _, p := range f.posts {
		if p.Channel == channel && p.ThreadTS == "" {
			out = append(out, *f.msgs[p.Channel+"/"+p.TS])
		}
	}
	return out
}

// ThreadReplies returns the replies posted in the thread of the message
// ts, oldest first.
func (f *fakeSlack) ThreadReplies(ts string) []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeMessage
	for _, p := range f.posts {
		if p.ThreadTS == ts {
			out = append(out, p)
		}
	}
	return out
}

// Message returns the message ts in channel as it stands after its updates.
func (f *fakeSlack) Message(channel, ts string) (fakeMessage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.msgs[channel+"/"+ts]
	if !ok {
		return fakeMessage{}, false
	}
	return *m, true
}

// LatestBlocks returns the blocks JSON of the message ts in channel as it
// stands after its updates ("" for an unknown message).
func (f *fakeSlack) LatestBlocks(channel, ts string) string {
	m, _ := f.Message(channel, ts)
	return m.Blocks
}

// LatestText returns the text of the message ts in channel as it stands
// after its updates.
func (f *fakeSlack) LatestText(channel, ts string) string {
	m, _ := f.Message(channel, ts)
	return m.Text
}

// WaitFor polls cond until it holds or timeout passes, and reports whether
// it held.
func (f *fakeSlack) WaitFor(cond func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serveAPI answers a Web API call.
func (f *fakeSlack) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	ft, faulted, delay, custom := f.begin(method)
	if !f.wait(r, delay) {
		return
	}
	if faulted {
		f.writeFault(w, ft)
		return
	}
	token := r.Form.Get("token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = bearer
	}
	switch {
	case token == "":
		writeFakeError(w, "not_authed")
		return
	case token != f.Token:
		writeFakeError(w, "invalid_auth")
		return
	}
	if custom != nil {
		custom(w, r)
		return
	}
	switch method {
	case "auth.test":
		writeFakeOK(w, map[string]any{"url": "https://shipmate-test.slack.com/", "team": f.Team, "team_id": "T0TEST",
			"user": "shipmate", "user_id": f.BotUserID, "bot_id": f.BotID})
	case "chat.postMessage":
		f.postMessage(w, r)
	case "chat.update":
		f.update(w, r)
	case "chat.postEphemeral":
		f.postEphemeral(w, r)
	case "chat.getPermalink":
		f.permalink(w, r)
	case "conversations.history":
		f.history(w, r)
	case "conversations.open":
		f.openConversation(w, r)
	case "users.info":
		f.userInfo(w, r)
	case "usergroups.users.list":
		f.groupMembers(w, r)
	default:
		f.t.Errorf("fakeslack: Shipmate called %s, a method this fake does not serve (and deploy/slack's manifests may lack the scope of)", method)
		writeFakeError(w, "unknown_method")
	}
}

// begin counts a call of method and returns its fault, if any, its delay
// and its custom handler.
func (f *fakeSlack) begin(method string) (fakeFault, bool, time.Duration, http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	calledMethods.Store(method, true)
	ft, faulted := f.always[method]
	if q := f.faults[method]; !faulted && len(q) > 0 {
		ft, faulted = q[0], true
		f.faults[method] = q[1:]
	}
	return ft, faulted, f.delays[method], f.methods[method]
}

// wait sleeps d, and reports false if the client went away meanwhile.
func (f *fakeSlack) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}

func (f *fakeSlack) writeFault(w http.ResponseWriter, ft fakeFault) {
	switch ft.status {
	case http.StatusOK:
		writeFakeError(w, ft.code)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", ft.retryAfter)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(ft.status)
		_, _ = io.WriteString(w, "<html><body>Server error</body></html>")
	}
}

// writeFakeOK answers {"ok":true} with fields.
func writeFakeOK(w http.ResponseWriter, fields map[string]any) {
	out := map[string]any{"ok": true}
	for k, v := range fields {
		out[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// writeFakeError answers {"ok":false,"error":code} with status 200, as
// Slack does.
func writeFakeError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
}

// nextTS hands out a ts as Slack does, the time of the message in
// seconds and microseconds, and one no other message has: a message in
// the microsecond of the last one (a test clock that stands still) gets
// the next microsecond. Callers hold f.mu.
func (f *fakeSlack) nextTS() string {
	us := max(f.now().UnixMicro(), f.lastTS+1)
	f.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

func (f *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	channel, text, blocks := r.Form.Get("channel"), r.Form.Get("text"), r.Form.Get("blocks")
	switch {
	case channel == "":
		writeFakeError(w, "channel_not_found")
		return
	case text == "" && (blocks == "" || blocks == "[]"):
		writeFakeError(w, "no_text")
		return
	case blocks != "" && !json.Valid([]byte(blocks)):
		writeFakeError(w, "invalid_blocks")
		return
	}
	metadata := r.Form.Get("metadata")
	if code := fakeCheckMetadata(metadata); code != "" {
		writeFakeError(w, code)
		return
	}
	f.mu.Lock()
	m := fakeMessage{Channel: channel, TS: f.nextTS(), ThreadTS: r.Form.Get("thread_ts"), Text: text, Blocks: blocks,
		Metadata: metadata, BotID: f.BotID, At: f.now()}
	f.posts = append(f.posts, m)
	stored := m
	f.msgs[channel+"/"+m.TS] = &stored
	f.mu.Unlock()
	msg := map[string]any{"type": "message", "user": f.BotUserID, "bot_id": f.BotID, "text": text, "ts": m.TS}
	if m.ThreadTS != "" {
		msg["thread_ts"] = m.ThreadTS
	}
	writeFakeOK(w, map[string]any{"channel": channel, "ts": m.TS, "message": msg})
}

func (f *fakeSlack) update(w http.ResponseWriter, r *http.Request) {
	channel, ts := r.Form.Get("channel"), r.Form.Get("ts")
	blocks := r.Form.Get("blocks")
	if blocks != "" && !json.Valid([]byte(blocks)) {
		writeFakeError(w, "invalid_blocks")
		return
	}
	if code := fakeCheckMetadata(r.Form.Get("metadata")); code != "" {
		writeFakeError(w, code)
		return
	}
	f.mu.Lock()
	m, ok := f.msgs[channel+"/"+ts]
	if !ok {
		f.mu.Unlock()
		writeFakeError(w, "message_not_found")
		return
	}
	// As in Slack, a field left out keeps its value; "[]" clears the blocks.
	if _, ok := r.Form["text"]; ok {
		m.Text = r.Form.Get("text")
	}
	if _, ok := r.Form["blocks"]; ok {
		m.Blocks = blocks
		if blocks == "[]" {
			m.Blocks = ""
		}
	}
	if _, ok := r.Form["metadata"]; ok {
		m.Metadata = r.Form.Get("metadata")
	}
	m.At = f.now()
	f.updates = append(f.updates, fakeMessage{Channel: channel, TS: ts, Text: r.Form.Get("text"), Blocks: blocks, At: m.At})
	text := m.Text
	f.mu.Unlock()
	writeFakeOK(w, map[string]any{"channel": channel, "ts": ts, "text": text})
}

func (f *fakeSlack) postEphemeral(w http.ResponseWriter, r *http.Request) {
	channel, user := r.Form.Get("channel"), r.Form.Get("user")
	if channel == "" {
		writeFakeError(w, "channel_not_found")
		return
	}
	if user == "" {
		writeFakeError(w, "user_not_in_channel")
		return
	}
	f.mu.Lock()
	m := fakeMessage{Channel: channel, TS: f.nextTS(), ThreadTS: r.Form.Get("thread_ts"), User: user,
		Text: r.Form.Get("text"), Blocks: r.Form.Get("blocks"), At: f.now()}
	f.ephemerals = append(f.ephemerals, m)
	f.mu.Unlock()
	writeFakeOK(w, map[string]any{"message_ts": m.TS})
}

func (f *fakeSlack) permalink(w http.ResponseWriter, r *http.Request) {
	channel, ts := r.Form.Get("channel"), r.Form.Get("message_ts")
	f.mu.Lock()
	_, ok := f.msgs[channel+"/"+ts]
	f.mu.Unlock()
	if !ok {
		writeFakeError(w, "message_not_found")
		return
	}
	writeFakeOK(w, map[string]any{"channel": channel,
		"permalink": "https://shipmate-test.slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")})
}

func (f *fakeSlack) userInfo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	u, ok := f.users[r.Form.Get("user")]
	f.mu.Unlock()
	if !ok {
		writeFakeError(w, "user_not_found")
		return
	}
	writeFakeOK(w, map[string]any{"user": u})
}

func (f *fakeSlack) groupMembers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	members, ok := f.groups[r.Form.Get("usergroup")]
	f.mu.Unlock()
	if !ok {
		writeFakeError(w, "no_such_subteam")
		return
	}
	writeFakeOK(w, map[string]any{"users": members})
}

// serveResponse records a POST to a response URL.
func (f *fakeSlack) serveResponse(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	ft, faulted, delay, _ := f.begin("response_url")
	if !f.wait(r, delay) {
		return
	}
	if faulted {
		f.writeFault(w, ft)
		return
	}
	var msg struct {
		Text            string          `json:"text"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
		Blocks          json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.responses = append(f.responses, fakeResponse{Path: r.URL.Path, Body: body, Text: msg.Text, ResponseType: msg.ResponseType,
		ReplaceOriginal: msg.ReplaceOriginal, DeleteOriginal: msg.DeleteOriginal, Blocks: string(msg.Blocks), At: f.now()})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}
