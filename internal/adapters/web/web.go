// Package web is Shipmate's own chat surface: a console that works like a
// chat channel, served on the bot's listener or one of its own, and the
// JSON API behind it.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/commands"
	"shipmate/internal/runbook"
)

// Platform is the name web users and runs carry.
const Platform = "web"

// Engine is what the console needs of the runbook engine.
type Engine interface {
	Command(ctx context.Context, u runbook.User, origin runbook.Origin, command, text string) (runbook.Reply, bool, error)
	Act(ctx context.Context, u runbook.User, id uint64, action runbook.ButtonAction, arg string) (runbook.Reply, error)
	Message(r *runbook.Run) runbook.Message
	// MayRead refuses, with an *Error for the user, someone who may not
	// read runs: anyone without a role.
	MayRead(ctx context.Context, u runbook.User) error
}

// Runs is what the console reads from the store.
type Runs interface {
	// RunLister serves the listings (GET /api/runs, bot runs).
	runbook.RunLister
	Recent(ctx context.Context, limit int) ([]*runbook.Run, error)
	Record(ctx context.Context, id uint64) (*runbook.Record, error)
}

// Options configure the console.
type Options struct {
	// UserHeader, when set, names the header an authenticating proxy sets
	// to the user; the user is that header and nothing else.
	UserHeader string
	// TrustedProxies are the source addresses the user header is believed
	// from (nil: LoopbackProxies). A request carrying it from elsewhere
	// reached the port around the proxy: it gets 401.
	TrustedProxies []netip.Prefix
	// Users are the names a local console offers to pick from.
	Users []string
	// ReadKey, when set, lets a request carrying it as a bearer token
	// (Authorization: Bearer <key>) read without a user: bot export, on
	// the bot's machine, finds it next to the store, whose file it could
	// read itself were the bot not running. Never log it.
	ReadKey string
	Log     zerolog.Logger
}

// Handler serves the console and its API.
type Handler struct {
	eng  Engine
	runs Runs
	chat *Chat
	opt  Options
	mux  *http.ServeMux
}

//go:embed static
var static embed.FS

// maxBody bounds request bodies.
const maxBody = 64 << 10

// New returns the console's handler.
func New(eng Engine, runs Runs, chat *Chat, opt Options) *Handler {
	h := &Handler{eng: eng, runs: runs, chat: chat, opt: opt, mux: http.NewServeMux()}
	sub, _ := fs.Sub(static, "static")
	h.mux.Handle("GET /", http.FileServerFS(sub))
	h.mux.HandleFunc("GET /api/whoami", h.whoami)
	h.mux.HandleFunc("GET /api/timeline", h.signedIn(h.timeline))
	h.mux.HandleFunc("GET /api/runs", h.signedIn(h.list))
	h.mux.HandleFunc("GET /api/runs/{id}", h.signedIn(h.record))
	h.mux.HandleFunc("GET /api/stream", h.signedIn(h.stream))
	h.mux.HandleFunc("POST /api/command", h.command)
	h.mux.HandleFunc("POST /api/runs/{id}/action", h.action)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	if !h.admit(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// user returns who is asking: the proxy's header, or on a local console the
// name the page sends, which must be one of the configured web users.
func (h *Handler) user(r *http.Request, picked string) (runbook.User, error) {
	if h.opt.UserHeader != "" {
		id := strings.TrimSpace(r.Header.Get(h.opt.UserHeader))
		if id == "" {
			return runbook.User{}, errors.New("not signed in: the " + h.opt.UserHeader + " header is missing")
		}
		return runbook.User{Platform: Platform, ID: id}, nil
	}
	if picked == "" {
		picked = r.Header.Get("X-Shipmate-User")
	}
	if !slices.Contains(h.opt.Users, picked) {
		return runbook.User{}, fmt.Errorf("pick who you are: %q is not a console user", picked)
	}
	return runbook.User{Platform: Platform, ID: picked}, nil
}

// sameOrigin protects state-changing requests against cross-site use: they
// must be JSON (which a cross-site form cannot send without a preflight)
// and, when the browser says where they come from, come from this origin.
func sameOrigin(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") {
		return errors.New("requests must be application/json")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errors.New("cross-site request refused")
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("cross-origin request refused")
		}
	}
	return nil
}

type apiReply struct {
	Text  string `json:"text"`
	RunID uint64 `json:"run_id,omitempty"`
	Error bool   `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiReply{Text: msg, Error: true})
}

// answer turns an engine result into the response only the asking user
// sees: refusals included.
func (h *Handler) answer(w http.ResponseWriter, rep runbook.Reply, err error) {
	if err != nil {
		code := runbook.ErrorCode(err)
		if code == runbook.EInternal || code == runbook.EUnavailable {
			h.opt.Log.Error().Err(err).Msg("web: command failed")
		}
		writeJSON(w, http.StatusOK, apiReply{Text: runbook.ErrorMessage(err), Error: true, Code: code})
		return
	}
	writeJSON(w, http.StatusOK, apiReply{Text: rep.Text, RunID: rep.RunID})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request body: %v", err)
	}
	return nil
}

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request) {
	out := struct {
		User  string   `json:"user,omitempty"`
		Local bool     `json:"local"`
		Users []string `json:"users,omitempty"`
	}{Local: h.opt.UserHeader == ""}
	if out.Local {
		out.Users = h.opt.Users
	} else if u, err := h.user(r, ""); err == nil {
		out.User = u.ID
	} else {
		refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// timelineSize is how many recent runs a page shows on load.
const timelineSize = 50

func (h *Handler) timeline(w http.ResponseWriter, r *http.Request) {
	runs, err := h.runs.Recent(r.Context(), timelineSize)
	if err != nil {
		h.opt.Log.Error().Err(err).Msg("web: read recent runs")
		refuse(w, http.StatusInternalServerError, "cannot read the store")
		return
	}
	notices := h.chat.Notices()
	// Never null: the page iterates the list, and a new console has none.
	entries := make([]Entry, 0, len(notices)+len(runs))
	entries = append(entries, notices...)
	for _, run := range runs {
		entries = append(entries, Entry{Ref: fmt.Sprintf("run-%d", run.ID), At: run.CreatedAt, Message: h.eng.Message(run)})
	}
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.At.Compare(b.At) })
	writeJSON(w, http.StatusOK, entries)
}

func (h *Handler) record(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(strings.TrimPrefix(r.PathValue("id"), "#"), 10, 64)
	if err != nil {
		refuse(w, http.StatusBadRequest, "run id must be a number")
		return
	}
	rec, err := h.runs.Record(r.Context(), id)
	if errors.Is(err, runbook.ErrRunNotFound) {
		refuse(w, http.StatusNotFound, fmt.Sprintf("there is no run #%d", id))
		return
	}
	if err != nil {
		h.opt.Log.Error().Err(err).Msg("web: read run")
		refuse(w, http.StatusInternalServerError, "cannot read the store")
		return
	}
	by, how := h.reader(r)
	runbook.LogAudit(h.opt.Log, runbook.AuditOfExport(rec.Run, by, time.Now().UTC(), how))
	writeJSON(w, http.StatusOK, rec)
}

// reader says who reads a run's record, for the audit log, and how.
func (h *Handler) reader(r *http.Request) (runbook.User, string) {
	switch {
	case h.readKey(r):
		return runbook.User{}, "read with the console's read key (bot export)"
	case h.opt.UserHeader != "":
		u, _ := h.user(r, "") // signedIn let the request through: the header is there
		return u, "read through the console's API"
	}
	return runbook.User{}, "read through the local console's API"
}

// picked is the user a local console's page says it is.
type picked struct {
	User string `json:"user"`
}

func (p *picked) pickedUser() string { return p.User }

// sender decodes a state-changing request's body into v and returns who
// sent it. When either fails it has answered the request, and ok is false.
func (h *Handler) sender(w http.ResponseWriter, r *http.Request, v interface{ pickedUser() string }) (u runbook.User, ok bool) {
	if err := decodeBody(w, r, v); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return u, false
	}
	u, err := h.user(r, v.pickedUser())
	if err != nil {
		refuse(w, http.StatusForbidden, err.Error())
		return u, false
	}
	return u, true
}

func (h *Handler) command(w http.ResponseWriter, r *http.Request) {
	var body struct {
		picked
		Text string `json:"text"`
	}
	u, ok := h.sender(w, r, &body)
	if !ok {
		return
	}
	command, text, ok := commands.SplitLine(body.Text)
	var rep runbook.Reply
	var err error
	handled := false
	if ok {
		rep, handled, err = h.eng.Command(r.Context(), u, runbook.Origin{Platform: Platform, Channel: Channel}, command, text)
	}
	if !handled {
		writeJSON(w, http.StatusOK, apiReply{Text: "Shipmate understands /deploy and /rollback; try /deploy help", Error: true, Code: runbook.EInvalid})
		return
	}
	h.answer(w, rep, err)
}

func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	var body struct {
		picked
		Action string `json:"action"`
		Item   string `json:"item"`
		Reason string `json:"reason"`
		// Seen is the Value of the button clicked: what its message showed.
		Seen string `json:"seen"`
	}
	u, ok := h.sender(w, r, &body)
	if !ok {
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		refuse(w, http.StatusBadRequest, "run id must be a number")
		return
	}
	arg := body.Item
	switch runbook.ButtonAction(body.Action) {
	case runbook.ButtonReject:
		arg = body.Reason
	case runbook.ButtonApprove:
		arg = body.Seen
	}
	rep, err := h.eng.Act(r.Context(), u, id, runbook.ButtonAction(body.Action), arg)
	h.answer(w, rep, err)
}

// stream sends message posts and updates as server-sent events.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A stream is open for as long as the page is: the server's write
	// deadline is for ordinary answers. Keepalives still find a gone page.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	s, cancel := h.chat.subscribe()
	defer cancel()
	if _, err := io.WriteString(w, ": connected\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		var frame []byte
		select {
		case <-r.Context().Done():
			return
		case <-h.chat.closed:
			return
		case frame = <-s.ch:
		case <-keepalive.C:
			frame = []byte(": keepalive\n\n")
		}
		if s.lagged.Swap(false) {
			// The page reloads its timeline on resync, so the frames still
			// queued are older than what it will load: sent after the
			// resync, a slow browser would paint them over the fresh state.
			s.drain()
			frame = []byte("event: resync\ndata: {}\n\n")
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
