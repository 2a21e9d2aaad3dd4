// Package discordtest is a fake of the part of Discord's REST API Shipmate
// calls, speaking its JSON, for tests of the adapter and of the built bot:
// command registration, channel messages and their edits, threads,
// interaction callbacks and follow-ups, direct message channels. It records every call, and can
// answer a share of them with a rate limit or a server error.
package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Call is one request the fake received; Path is without the /api/v9
// prefix. Status is what the fake answered.
type Call struct {
	Method, Path string
	Body         []byte
	Status       int
}

// Faults are the shares of calls (0 to 1) answered, at random, with a
// 429 carrying a retry_after of up to MaxRetryAfter, or with a 500. A
// call answered so does nothing: no message is posted or edited.
type Faults struct {
	RateLimit, ServerError float64
	MaxRetryAfter          time.Duration // default 500ms
	Seed                   uint64
}

// apiVersion is the prefix of REST paths (discordgo v0.29 calls v9).
var apiVersion = regexp.MustCompile(`^/api/v[0-9]+`)

// Server is the fake. Posted messages get ids M1, M2, ...; a thread
// started on a message takes the message's id.
type Server struct {
	// URL is the server's base URL, for chat.discord.api_url.
	URL string
	srv *httptest.Server

	mu                sync.Mutex
	calls             []Call
	next              int
	messages          map[string][]byte // message id → its latest body
	posted            map[string][]byte // message id → the body it was posted with
	nonces            map[string]string // channel and nonce → the message posted with them
	limits            int               // answer this many edits with 429 first
	failRegistrations int               // answer this many registrations with 503 first
	noThread          bool              // refuse to start threads
	app               *application      // GET /applications/@me, for its bot token
	faults            Faults
	rnd               *rand.Rand
	rateLimited       int // calls answered 429 by the injected faults
	serverErrors      int // calls answered 500 by the injected faults
}

// New starts a fake, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{messages: map[string][]byte{}, posted: map[string][]byte{}, nonces: map[string]string{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// RateLimitEdits answers the next n message edits with 429.
func (s *Server) RateLimitEdits(n int) { s.set(func() { s.limits = n }) }

// FailRegistrations answers the next n command registrations with 503.
func (s *Server) FailRegistrations(n int) { s.set(func() { s.failRegistrations = n }) }

// application is the app whose bot token the fake knows.
type application struct{ token, id, name string }

// SetApplication makes GET /applications/@me answer the application id,
// name to a request with the bot token token, and 401 as Discord does to
// any other. Without it the path is unknown (404).
func (s *Server) SetApplication(token, id, name string) {
	s.set(func() { s.app = &application{token: token, id: id, name: name} })
}

// RefuseThreads makes starting a thread fail as without the permission.
func (s *Server) RefuseThreads(refuse bool) { s.set(func() { s.noThread = refuse }) }

// InjectFaults answers the shares of the calls from now on that f says
// with a rate limit or a server error; the zero Faults stops.
func (s *Server) InjectFaults(f Faults) {
	s.set(func() {
		if f.MaxRetryAfter <= 0 {
			f.MaxRetryAfter = 500 * time.Millisecond
		}
		s.faults, s.rnd = f, rand.New(rand.NewPCG(f.Seed, f.Seed^0x5eed))
	})
}

// Injected returns how many calls the injected faults answered with a
// rate limit and with a server error.
func (s *Server) Injected() (rateLimited, serverErrors int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited, s.serverErrors
}

func (s *Server) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// ServeHTTP answers one REST call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := apiVersion.ReplaceAllString(r.URL.Path, "")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	w = rec
	defer func() { s.calls = append(s.calls, Call{r.Method, path, body, rec.status}) }()
	w.Header().Set("Content-Type", "application/json")
	if s.fault(w) {
		return
	}
	switch {
	case r.Method == http.MethodPut && strings.HasSuffix(path, "/commands") && s.failRegistrations > 0:
		s.failRegistrations--
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"message":"upstream connect error","code":0}`)
	case r.Method == http.MethodPut && strings.HasSuffix(path, "/commands"):
		_, _ = w.Write(body)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		// As Discord does: with enforce_nonce, a post repeating a nonce
		// answers the message first posted with it and posts nothing.
		var n struct {
			Nonce        string `json:"nonce"`
			EnforceNonce bool   `json:"enforce_nonce"`
		}
		_ = json.Unmarshal(body, &n)
		key := parts[1] + "\x00" + n.Nonce
		if id, ok := s.nonces[key]; ok && n.EnforceNonce && n.Nonce != "" {
			fmt.Fprintf(w, `{"id":%q,"channel_id":%q}`, id, parts[1])
			break
		}
		s.next++
		id := "M" + strconv.Itoa(s.next)
		s.messages[id], s.posted[id] = body, body
		if n.Nonce != "" {
			s.nonces[key] = id
		}
		fmt.Fprintf(w, `{"id":%q,"channel_id":%q}`, id, parts[1])
	case r.Method == http.MethodPatch && len(parts) == 4 && parts[2] == "messages" && s.limits > 0:
		s.limits--
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"message":"You are being rate limited.","retry_after":0.2,"global":false}`)
	case r.Method == http.MethodPatch && len(parts) == 4 && parts[2] == "messages":
		s.messages[parts[3]] = body
		fmt.Fprintf(w, `{"id":%q,"channel_id":%q}`, parts[3], parts[1])
	case r.Method == http.MethodPost && len(parts) == 5 && parts[4] == "threads" && s.noThread:
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"message":"Missing Access","code":50001}`)
	case r.Method == http.MethodPost && len(parts) == 5 && parts[4] == "threads":
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"type":11,"parent_id":%q}`, parts[3], parts[1])
	case r.Method == http.MethodPost && path == "/users/@me/channels":
		// Create DM: the direct channel with recipient_id, one per user.
		var dm struct {
			RecipientID string `json:"recipient_id"`
		}
		if json.Unmarshal(body, &dm) != nil || dm.RecipientID == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"message":"Invalid Form Body","code":50035}`)
			break
		}
		fmt.Fprintf(w, `{"id":%q,"type":1,"recipients":[{"id":%q}]}`, "D"+dm.RecipientID, dm.RecipientID)
	case r.Method == http.MethodGet && path == "/applications/@me" && s.app != nil:
		s.application(w, r)
	case r.Method == http.MethodPost && parts[0] == "interactions":
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && parts[0] == "webhooks":
		_, _ = io.WriteString(w, `{"id":"W1"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"Unknown","code":0}`)
	}
}

// application answers GET /applications/@me with the fields of Discord's
// application object that a bot sees of its own app.
func (s *Server) application(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bot "+s.app.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"message": "401: Unauthorized", "code": 0}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": s.app.id, "name": s.app.name, "icon": nil, "description": "", "summary": "",
		"type": nil, "bot_public": false, "bot_require_code_grant": false, "verify_key": strings.Repeat("0", 64),
		"flags": 0, "hook": true, "is_monetized": false, "team": nil,
		"bot": map[string]any{"id": s.app.id, "username": s.app.name, "discriminator": "0", "bot": true},
	})
}

// fault answers the call with an injected fault, if the dice say so.
func (s *Server) fault(w http.ResponseWriter) bool {
	if s.rnd == nil {
		return false
	}
	switch x := s.rnd.Float64(); {
	case x < s.faults.RateLimit:
		s.rateLimited++
		after := time.Duration(s.rnd.Int64N(int64(s.faults.MaxRetryAfter))) + time.Millisecond
		secs := strconv.FormatFloat(after.Seconds(), 'f', 3, 64)
		w.Header().Set("Retry-After", secs)
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"message":"You are being rate limited.","retry_after":%s,"global":false}`, secs)
		return true
	case x < s.faults.RateLimit+s.faults.ServerError:
		s.serverErrors++
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"500: Internal Server Error","code":0}`)
		return true
	}
	return false
}

// statusRecorder notes the status a call was answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Calls returns the calls whose method and path match (path by prefix).
func (s *Server) Calls(method, prefix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method && strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Exact returns the calls to exactly method and path.
func (s *Server) Exact(method, path string) []Call {
	var out []Call
	for _, c := range s.Calls(method, path) {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// Message returns the latest body of message id.
func (s *Server) Message(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages[id]
}

// MessageWith returns the id of the first message posted with a body
// holding text, or "".
func (s *Server) MessageWith(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i <= s.next; i++ {
		id := "M" + strconv.Itoa(i)
		if bytes.Contains(s.posted[id], []byte(text)) {
			return id
		}
	}
	return ""
}

// MessagesWith returns the ids of every message posted with a body
// holding text, oldest first.
func (s *Server) MessagesWith(text string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for i := 1; i <= s.next; i++ {
		id := "M" + strconv.Itoa(i)
		if bytes.Contains(s.posted[id], []byte(text)) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Client reaches the fake whatever host it is asked for: discordgo fixes
// its endpoints' host when it loads.
func (s *Server) Client() *http.Client {
	u, _ := url.Parse(s.URL)
	return &http.Client{Timeout: 10 * time.Second, Transport: toHost{scheme: u.Scheme, host: u.Host}}
}

type toHost struct{ scheme, host string }

func (t toHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.scheme, t.host, t.host
	return http.DefaultTransport.RoundTrip(r)
}
