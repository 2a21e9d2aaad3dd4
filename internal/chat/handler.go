package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/runbook"
)

// Engine is what a chat adapter asks of the runbook engine.
type Engine interface {
	Command(ctx context.Context, u runbook.User, origin runbook.Origin, command, text string) (runbook.Reply, bool, error)
	Act(ctx context.Context, u runbook.User, id uint64, action runbook.ButtonAction, arg string) (runbook.Reply, error)
	// Message is what a run's message shows (for the question a button
	// asks before acting).
	Message(r *runbook.Run) runbook.Message
}

// Runs reads runs, to turn a checklist selection into ticks.
type Runs interface {
	Run(ctx context.Context, id uint64) (*runbook.Run, error)
}

// Deduper remembers deliveries (the store implements it), so that a
// platform's retries act once.
type Deduper interface {
	Once(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error)
	// Forget drops a key, so that its next sighting is the first.
	Forget(ctx context.Context, key string) error
}

// DedupeTTL is how long a delivery is remembered: platforms retry within
// minutes, and a Discord interaction's token lives 15.
const DedupeTTL = time.Hour

// UnknownCommand answers a command Shipmate does not handle.
const UnknownCommand = "Shipmate answers /deploy and /rollback; try `/deploy help`."

// Handler is the platform-neutral half of what comes in from a chat:
// deliveries told apart from their retries, commands and clicks carried
// out, checklist selections turned into ticks, and the questions buttons
// ask first.
type Handler struct {
	Platform string
	Engine   Engine
	Runs     Runs
	// Deduper remembers deliveries; nil: every delivery is new.
	Deduper Deduper
	Now     func() time.Time
	Log     zerolog.Logger
}

// DeliveryClaimer is a Deduper whose writes claim the delivery their
// context carries (runbook.WithDelivery): the key is stored with the
// command's first write, in its transaction. Without it, a delivery's key
// is stored before it is acted on and forgotten when the action failed.
type DeliveryClaimer interface {
	// Seen reports, only reading, whether key is remembered at now.
	Seen(ctx context.Context, key string, now time.Time) (bool, error)
	// ClaimsDeliveries reports whether the writes claim deliveries (a
	// wrapper says what the store it wraps does).
	ClaimsDeliveries() bool
}

// First reports whether the delivery of kind ("cmd", "act"; empty for a
// platform whose ids are unique across kinds) with this id is new, and
// returns the context to act on it with. Without an id there is nothing
// to recognise a retry by, so it counts as new: keying it on the kind
// alone would drop every later delivery without an id for an hour. A
// store failure errs on acting: the engine's own state checks still
// refuse a repeated action.
//
// With a DeliveryClaimer, First only reads: the returned context carries
// the delivery, and the command's first write stores its key with the
// effect (a retry arriving meanwhile fails that write, see Settle).
// Otherwise the key is spent here, before the delivery is acted on, and
// Settle gives it back when the action failed inside Shipmate.
func (h *Handler) First(ctx context.Context, kind, id string) (context.Context, bool) {
	if h.Deduper == nil || id == "" {
		return ctx, true
	}
	key, now := h.key(kind, id), h.Now()
	if c, ok := h.Deduper.(DeliveryClaimer); ok && c.ClaimsDeliveries() {
		seen, err := c.Seen(ctx, key, now)
		if err != nil {
			h.Log.Warn().Err(err).Msg(h.Platform + ": dedupe")
		}
		if seen {
			return ctx, false
		}
		return runbook.WithDelivery(ctx, key, DedupeTTL, now), true
	}
	ok, err := h.Deduper.Once(ctx, key, DedupeTTL, now)
	if err != nil {
		h.Log.Warn().Err(err).Msg(h.Platform + ": dedupe")
		return ctx, true
	}
	return ctx, ok
}

// Settle ends a delivery acted on with ctx (First's) and err, what the
// action returned, and reports whether the delivery was a repeat after
// all: one whose key a concurrent or earlier delivery stored, which the
// adapter answers as it answers a repeat First recognised.
//
// Its key is kept when its action was stored or refused for a reason of
// the user's (err nil or one for the user), and forgotten on an internal
// failure (the store failing, say): nothing was stored, so the platform's
// retry of the delivery must act. Writing runs on a context of its own:
// the delivery's may have ended with the failure.
func (h *Handler) Settle(ctx context.Context, kind, id string, err error) (repeat bool) {
	if errors.Is(err, runbook.ErrDuplicateDelivery) {
		return true
	}
	if d := runbook.DeliveryOf(ctx); d != nil {
		return h.remember(ctx, d, err)
	}
	if code := runbook.ErrorCode(err); h.Deduper == nil || id == "" || err == nil || code != runbook.EInternal && code != runbook.EUnavailable {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ferr := h.Deduper.Forget(ctx, h.key(kind, id)); ferr != nil {
		h.Log.Warn().Err(ferr).Msg(h.Platform + ": forget a failed delivery; its retry will be dropped")
	}
	return false
}

// remember settles the key of a delivery acted on with its key in ctx
// (d). A command refused for a reason of the user's stored nothing: its
// key is stored now, so that its retry is dropped as before. A read (err
// nil, nothing written) is not remembered: answering its retry again is
// harmless and costs no write. A failure inside Shipmate after a write
// that claimed the key (a click whose first tick was stored and whose
// second failed) forgets it, so that the retry acts on what is left; one
// before any such write stored nothing to forget. It reports whether the
// delivery was a repeat after all: refused because the same delivery,
// reaching another replica or arriving twice at once, acted first and
// stored its key meanwhile.
func (h *Handler) remember(ctx context.Context, d *runbook.Delivery, err error) (repeat bool) {
	internal := false
	switch runbook.ErrorCode(err) {
	case "":
		return false
	case runbook.EInternal, runbook.EUnavailable:
		internal = true
	}
	if internal != d.Claimed() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if internal {
		if ferr := h.Deduper.Forget(ctx, d.Key); ferr != nil {
			h.Log.Warn().Err(ferr).Msg(h.Platform + ": forget a failed delivery; its retry will be dropped")
		}
		return false
	}
	first, oerr := h.Deduper.Once(ctx, d.Key, d.TTL, d.Now)
	if oerr != nil {
		h.Log.Warn().Err(oerr).Msg(h.Platform + ": remember a refused delivery; its retry will be answered again")
	}
	return oerr == nil && !first
}

// key is a delivery's dedupe key.
func (h *Handler) key(kind, id string) string {
	if kind == "" {
		return h.Platform + ":" + id
	}
	return h.Platform + ":" + kind + ":" + id
}

// Command runs a chat command of u in channel and returns what u alone is
// told: the reply, or the refusal. handled is false for a command that is
// not Shipmate's (the reply is then UnknownCommand). err is the refusal or
// failure the reply tells of, for Settle.
func (h *Handler) Command(ctx context.Context, u runbook.User, channel, command, text string) (reply string, handled bool, err error) {
	origin := runbook.Origin{Platform: h.Platform, Channel: channel}
	rep, handled, err := h.Engine.Command(ctx, u, origin, command, text)
	switch {
	case !handled:
		return UnknownCommand, false, nil
	case err != nil:
		h.logInternal(err, "command", command)
		return runbook.ErrorMessage(err), true, err
	}
	return rep.Text, true, nil
}

// Act carries out a button's action on run id; seen is what the button
// binds to (the version and artifact its message showed).
func (h *Handler) Act(ctx context.Context, u runbook.User, id uint64, action runbook.ButtonAction, seen string) error {
	_, err := h.Engine.Act(ctx, u, id, action, seen)
	h.logInternal(err, "action", string(action))
	return err
}

// logInternal logs err when it is not one for the user.
func (h *Handler) logInternal(err error, what, name string) {
	if code := runbook.ErrorCode(err); code == runbook.EInternal || code == runbook.EUnavailable {
		h.Log.Error().Err(err).Str(what, name).Msg(h.Platform + ": " + what + " failed")
	}
}

// Tick carries out a click on a checklist control of run id: selected is
// every option the control holds selected after the click, shown what the
// clicked message showed ticked (nil when the platform does not say), and
// control picks, from the run's items, those the control holds. What
// changed is judged against shown, not against the store: a message
// edited late must not untick what others ticked since. Every change is
// tried; the first refusal is returned.
func (h *Handler) Tick(ctx context.Context, u runbook.User, id uint64, control func([]runbook.CheckItem) []runbook.CheckItem,
	selected []string, shown map[string]bool) error {
	err := h.tick(ctx, u, id, control, selected, shown)
	h.logInternal(err, "action", "checklist")
	return err
}

func (h *Handler) tick(ctx context.Context, u runbook.User, id uint64, control func([]runbook.CheckItem) []runbook.CheckItem,
	selected []string, shown map[string]bool) error {
	r, err := h.Runs.Run(ctx, id)
	if err != nil {
		if errors.Is(err, runbook.ErrRunNotFound) {
			return runbook.Errorf(runbook.ENotFound, "there is no run #%d", id)
		}
		return err
	}
	var first error
	for _, ch := range Changes(control(r.Tickable()), selected, shown) {
		action := runbook.ButtonUntick
		if ch.Tick {
			action = runbook.ButtonTick
		}
		if _, err := h.Engine.Act(ctx, u, id, action, ch.Key); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Change is one tick or untick a checklist click asks for.
type Change struct {
	Key  string
	Tick bool // false: untick
}

// Changes returns what a click on a checklist control changed: items are
// the ones the control holds, selected what it holds selected after the
// click, and shown what the clicked message showed ticked (nil: unknown,
// the items' own state is taken). An item counts only when the click
// changed it from what was shown and the run does not have it so already;
// automated items are never ticked by hand.
func Changes(items []runbook.CheckItem, selected []string, shown map[string]bool) []Change {
	sel := map[string]bool{}
	for _, k := range selected {
		sel[k] = true
	}
	var out []Change
	for _, it := range items {
		if it.Auto {
			continue
		}
		was := it.Done
		if shown != nil {
			was = shown[it.Key]
		}
		if sel[it.Key] == was || sel[it.Key] == it.Done {
			continue // not this click's change, or already so
		}
		out = append(out, Change{Key: it.Key, Tick: sel[it.Key]})
	}
	return out
}

// Question returns the button whose question u is asked before its action
// is carried out on run id: the confirmation the run's message offers now.
// When the run offers no such button any more, refusal says why instead.
func (h *Handler) Question(ctx context.Context, id uint64, action runbook.ButtonAction) (b runbook.Button, refusal string) {
	r, err := h.Runs.Run(ctx, id)
	if errors.Is(err, runbook.ErrRunNotFound) {
		return b, fmt.Sprintf("There is no run #%d.", id)
	}
	if err != nil {
		h.Log.Error().Err(err).Uint64("run", id).Msg(h.Platform + ": read a run")
		return b, runbook.ErrorMessage(err)
	}
	for _, b := range h.Engine.Message(r).Buttons {
		if b.Action == action && b.Confirm != "" {
			return b, ""
		}
	}
	return b, fmt.Sprintf("Run #%d no longer offers that: it is %s.", id, strings.ToLower(r.State.Label()))
}

// Done says what a confirmed action did: "Done: rejected run #4."
func Done(action runbook.ButtonAction, id uint64) string {
	verb := string(action)
	switch action {
	case runbook.ButtonReject:
		verb = "rejected"
	case runbook.ButtonRollback:
		verb = "rolling back"
	case runbook.ButtonCancel:
		verb = "stopping"
	}
	return fmt.Sprintf("Done: %s run #%d.", verb, id)
}
