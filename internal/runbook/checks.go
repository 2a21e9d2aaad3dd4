package runbook

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// recheckEvery is how often a waiting run's failing automated checks are
// evaluated again (CI may still be running when the run is requested).
const recheckEvery = 30 * time.Second

// runChecks evaluates r's automated checklist items with the app's
// Checker and records the verdicts on r. It returns the events for the
// verdicts that changed, and whether every automated item passes.
func (e *Engine) runChecks(ctx context.Context, r *Run) ([]Event, bool) {
	var evs []Event
	allOK := true
	ch := e.checkers[r.App]
	for i := range r.Checklist {
		it := &r.Checklist[i]
		if !it.Auto {
			continue
		}
		res := CheckResult{Detail: "no checker is configured for " + r.App}
		if ch != nil {
			var err error
			if res, err = ch.Check(ctx, job(r), it.Key); err != nil {
				res = CheckResult{Detail: "the check could not run: " + err.Error()}
			}
		}
		changed := it.Done != res.OK || it.Detail != res.Detail || it.Link != res.Link
		it.Done, it.Detail, it.Link, it.At = res.OK, res.Detail, res.Link, e.now()
		it.By = nil
		if res.OK {
			it.By = &Shipmate
		} else {
			allOK = false
		}
		if changed {
			verdict := "passes"
			if !res.OK {
				verdict = "fails"
			}
			link := ""
			if res.Link != "" {
				link = " (" + res.Link + ")"
			}
			evs = append(evs, e.event(EvCheck, &Shipmate, fmt.Sprintf("“%s” %s: %s%s", it.Label, verdict, res.Detail, link)))
		}
	}
	r.RecheckAt = time.Time{}
	if !allOK {
		r.RecheckAt = e.now().Add(recheckEvery)
	}
	return evs, allOK
}

// autoChecks reports whether app checks item itself.
func (e *Engine) autoChecks(app, item string) bool {
	return slices.Contains(e.policy.Apps[app].Checks, item)
}

// failingChecks lists the labels of r's automated items that fail.
func failingChecks(r *Run) []string {
	var out []string
	for _, it := range r.Checklist {
		if it.Auto && !it.Done {
			out = append(out, it.Label+": "+it.Detail)
		}
	}
	return out
}

// recheck evaluates a waiting run's failing automated checks again, and
// moves the run on when they now pass.
func (e *Engine) recheck(ctx context.Context, id uint64) error {
	r, err := e.update(ctx, id, func(r *Run) ([]Event, error) {
		if r.State != StateChecklist || r.RecheckAt.IsZero() || e.now().Before(r.RecheckAt) {
			return nil, errMovedOn
		}
		env, err := e.env(r.Env)
		if err != nil {
			return nil, err
		}
		evs, _ := e.runChecks(ctx, r)
		if ev := e.pend(r, env, &Shipmate); ev.From != ev.To {
			evs = append(evs, ev)
		}
		return evs, nil
	})
	if err == nil && r.State == StateApproved {
		e.kick(id, false)
	}
	return err
}
