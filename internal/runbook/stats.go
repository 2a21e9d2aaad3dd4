package runbook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"shipmate/internal/commands"
)

// doraScan bounds the runs read for the DORA keys of one app in one
// environment.
const doraScan = 2000

// DORA computes the DORA keys of app in env over the last days days, from
// the store's history: the runs of the window and no more (a run requested
// before it counts for nothing; a rollback or success that follows one in
// the window is newer). The leader computes them every few minutes.
func (e *Engine) DORA(ctx context.Context, app, env string, days int) (DORA, error) {
	to := e.now()
	from := to.Add(-time.Duration(days) * 24 * time.Hour)
	runs, err := e.store.HistorySince(ctx, app, env, from, doraScan)
	if err != nil {
		return DORA{}, err
	}
	d := DORAOf(runs, app, env, from, to)
	d.Truncated = len(runs) == doraScan
	return d, nil
}

// stats answers /deploy stats: the DORA keys of an app in one environment,
// or in each.
func (e *Engine) stats(ctx context.Context, in commands.Intent) (Reply, error) {
	if _, ok := e.policy.Apps[in.App]; !ok {
		return Reply{}, Errorf(EInvalid, "unknown app %q", in.App)
	}
	days := in.Days
	if days <= 0 {
		days = commands.DefaultStatsDays
	}
	envs := []string{in.Env}
	if in.Env == "" {
		envs = envs[:0]
		for _, env := range e.policy.Envs {
			envs = append(envs, env.Name)
		}
	}
	var b strings.Builder
	for _, env := range envs {
		d, err := e.DORA(ctx, in.App, env, days)
		if err != nil {
			return Reply{}, err
		}
		writeDORA(&b, d, days)
	}
	return Reply{Text: strings.TrimSpace(b.String()), Private: true}, nil
}

// writeDORA writes the four keys of d, over days days, as lines of a reply.
func writeDORA(b *strings.Builder, d DORA, days int) {
	fmt.Fprintf(b, "%s in %s, last %d days:\n", d.App, d.Env, days)
	if d.Finished == 0 && d.Failures == 0 {
		b.WriteString("• no deploy finished\n")
		return
	}
	fmt.Fprintf(b, "• deployment frequency: %.2f a day (%d successful %s)\n", d.PerDay, d.Deploys, plural(d.Deploys, "deploy"))
	if d.Deploys > 0 {
		fmt.Fprintf(b, "• lead time, request to success: median %s, mean %s\n", fmtDuration(d.LeadTime), fmtDuration(d.LeadTimeMean))
	} else {
		b.WriteString("• lead time: no successful deploy\n")
	}
	fmt.Fprintf(b, "• change failure rate: %.0f%% (%d of %d finished %s failed or %s rolled back)\n",
		100*d.FailureRate, d.Failures, d.Finished, plural(d.Finished, "deploy"), wasWere(d.Failures))
	switch {
	case d.Restores > 0:
		fmt.Fprintf(b, "• time to restore: median %s, mean %s (%d %s)\n", fmtDuration(d.TimeToRestore), fmtDuration(d.TimeToRestoreMean),
			d.Restores, plural(d.Restores, "restore"))
	case d.Failures > 0:
		b.WriteString("• time to restore: no success since the failure yet\n")
	default:
		b.WriteString("• time to restore: no failure to restore from\n")
	}
	if d.Truncated {
		fmt.Fprintf(b, "• (from the newest %d runs only)\n", doraScan)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// fmtDuration writes d as people read it: 45s, 12m, 3h05m, 2d4h.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		m := int(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
	h := int(d.Round(time.Hour) / time.Hour)
	return fmt.Sprintf("%dd%dh", h/24, h%24)
}
