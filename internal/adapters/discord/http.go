package discord

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Routes registers POST /discord/interactions when a public key is
// configured (else interactions come over the gateway). Every request's
// signature is checked before anything else happens.
func (a *Adapter) Routes(mux *http.ServeMux) {
	if a.pubKey == nil {
		return
	}
	mux.HandleFunc("POST /discord/interactions", a.handleInteraction)
}

func (a *Adapter) handleInteraction(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	if err := verify(a.pubKey, a.opt.Clock(), r.Header, body); err != nil {
		a.opt.Log.Warn().Err(err).Msg("discord: refused an unsigned or badly signed request")
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	var ic discordgo.Interaction
	if err := json.Unmarshal(body, &ic); err != nil {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	resp, later := a.handle(r.Context(), &ic)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
	a.after(later)
}

// verify checks the Ed25519 signature Discord puts on a request, over
// X-Signature-Timestamp followed by the body, and that the timestamp is
// within maxSkew of now (which discordgo.VerifyInteraction does not check).
func verify(key ed25519.PublicKey, now time.Time, h http.Header, body []byte) error {
	sig, err := hex.DecodeString(h.Get("X-Signature-Ed25519"))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("missing or malformed signature")
	}
	ts := h.Get("X-Signature-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("missing or malformed timestamp")
	}
	if d := now.Sub(time.Unix(secs, 0)); d > maxSkew || d < -maxSkew {
		return errors.New("stale timestamp")
	}
	var msg bytes.Buffer
	msg.WriteString(ts)
	msg.Write(body)
	if !ed25519.Verify(key, msg.Bytes(), sig) {
		return errors.New("bad signature")
	}
	return nil
}

// mustHex decodes a key Validate has checked.
func mustHex(s string) ed25519.PublicKey {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
