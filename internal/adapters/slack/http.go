package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Routes registers Slack's HTTP endpoints: slash commands, interactions
// and the Events API. Every request's signature is checked before anything
// else happens.
func (a *Adapter) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /slack/commands", a.handleCommand)
	mux.HandleFunc("POST /slack/interactions", a.handleInteraction)
	mux.HandleFunc("POST /slack/events", a.handleEvents)
}

// verified reads the body of a signed request. On failure it has answered:
// 413 for a body over 1 MiB, 401 for a missing, wrong or stale signature.
func (a *Adapter) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return nil, false
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, "cannot read request body")
		return nil, false
	}
	if err := verifySignature(a.opt.SigningSecret, a.opt.Clock(), r.Header, body); err != nil {
		a.opt.Log.Warn().Err(err).Str("path", r.URL.Path).Msg("slack: refused an unsigned or badly signed request")
		httpError(w, http.StatusUnauthorized, "invalid signature")
		return nil, false
	}
	return body, true
}

func (a *Adapter) handleCommand(w http.ResponseWriter, r *http.Request) {
	body, ok := a.verified(w, r)
	if !ok {
		return
	}
	// slack.SlashCommandParse reads the form from a request: give it one
	// over the verified bytes.
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sc, err := slack.SlashCommandParse(req)
	if err != nil {
		httpError(w, http.StatusBadRequest, "malformed slash command")
		return
	}
	text := a.command(r.Context(), sc)
	if text == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, ephemeral(text))
}

// ephemeralReply answers a slash command with text only its user sees.
// slack.Msg is a message as Slack returns it: marshalled, it also carries
// "blocks":null, an empty "metadata" object and more, which a reply has no
// business sending (Slack wants blocks, if any, to be an array).
type ephemeralReply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(text string) ephemeralReply {
	return ephemeralReply{ResponseType: slack.ResponseTypeEphemeral, Text: text}
}

func (a *Adapter) handleInteraction(w http.ResponseWriter, r *http.Request) {
	body, ok := a.verified(w, r)
	if !ok {
		return
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil || vals.Get("payload") == "" {
		httpError(w, http.StatusBadRequest, "malformed interaction")
		return
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(vals.Get("payload")), &ic); err != nil {
		httpError(w, http.StatusBadRequest, "malformed interaction payload")
		return
	}
	refusals := a.interaction(r.Context(), ic)
	// The accepted actions are stored: acknowledge, then tell the user.
	w.WriteHeader(http.StatusOK)
	a.tellLater(ic, refusals)
}

func (a *Adapter) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := a.verified(w, r)
	if !ok {
		return
	}
	if !json.Valid(body) {
		httpError(w, http.StatusBadRequest, "malformed event")
		return
	}
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		// An event type Shipmate does not subscribe to: acknowledge it, or
		// Slack retries it.
		a.opt.Log.Debug().Err(err).Msg("slack: ignored event")
		w.WriteHeader(http.StatusOK)
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		var ch slackevents.ChallengeResponse
		if err := json.Unmarshal(body, &ch); err != nil {
			httpError(w, http.StatusBadRequest, "malformed url_verification")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, ch.Challenge)
		return
	case slackevents.CallbackEvent:
		m, ok := mentionOf(ev)
		if !ok {
			break
		}
		reply, err := a.mention(r.Context(), m)
		if err != nil {
			// Nothing was stored: Slack delivers the event again.
			httpError(w, http.StatusInternalServerError, "internal error")
		} else {
			w.WriteHeader(http.StatusOK)
		}
		a.tellMention(m, reply)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
