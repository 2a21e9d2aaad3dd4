package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"shipmate/internal/adapters/web"
	"shipmate/internal/config"
	"shipmate/internal/runbook"
)

// runsFlags are bot runs' own flags.
type runsFlags struct {
	app, env, state, since string
	limit                  int
	json                   bool
	// name names a flag as it was given: the flag, or the variable it
	// was read from.
	name func(flag string) string
}

func (f *runsFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.app, "app", "", "only runs of this `APP`")
	fs.StringVar(&f.env, "env", "", "only runs in this environment (`ENV`)")
	fs.StringVar(&f.state, "state", "", "only runs in these `STATES` (comma-separated: failed,rolled_back)")
	fs.StringVar(&f.since, "since", "", "only runs requested since `AGE`: 7d, 36h, 90m, or a date (2026-12-01)")
	fs.IntVar(&f.limit, "limit", 50, "at most `N` runs, newest first")
	fs.BoolVar(&f.json, "json", false, "print the runs as JSON")
}

// filter reads the flags as a filter, at now.
func (f *runsFlags) filter(now time.Time) (runbook.RunFilter, error) {
	name := f.name
	if name == nil {
		name = func(flag string) string { return "--" + flag }
	}
	rf := runbook.RunFilter{App: f.app, Env: f.env, Limit: f.limit}
	var err error
	if rf.States, err = runbook.ParseStates(f.state); err != nil {
		return rf, fmt.Errorf("%s: %w", name("state"), err)
	}
	if f.limit < 1 || f.limit > 1000 {
		given := name("limit") + " " // --limit 0, or SHIPMATE_LIMIT=0
		if !strings.HasPrefix(given, "-") {
			given = strings.TrimSuffix(given, " ") + "="
		}
		return rf, fmt.Errorf("%s%d: want a number from 1 to 1000", given, f.limit)
	}
	if f.since != "" {
		if rf.Since, err = parseSince(f.since, now); err != nil {
			return rf, fmt.Errorf("%s: %w", name("since"), err)
		}
	}
	return rf, nil
}

// parseSince reads an age (7d, 36h, 90m) or a date or time as a moment.
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want an age such as 7d, 36h or 90m, or a date such as 2026-12-01", s)
}

// runsCommand runs bot runs.
func runsCommand(cfg *config.Config, f *runsFlags, stdout, stderr io.Writer) int {
	if err := listRuns(cfg, f, stdout); err != nil {
		fmt.Fprintf(stderr, "shipmate: %v\n", strings.TrimPrefix(err.Error(), "usage\n"))
		if errors.Is(err, errUsage) {
			return exitConfig
		}
		return exitFail
	}
	return exitOK
}

// listRuns prints the runs the flags pick, from the store, or from the
// running bot that holds it.
func listRuns(cfg *config.Config, f *runsFlags, out io.Writer) error {
	rf, err := f.filter(time.Now())
	if err != nil {
		return errors.Join(errUsage, err)
	}
	var runs []*runbook.Run
	err = readStore(cfg, func(st web.Runs, _ string) (err error) {
		runs, err = runbook.ListRuns(context.Background(), st, rf)
		return err
	}, func(addr, key string) error {
		return getJSON(addr, key, "/api/runs?"+runsQuery(rf).Encode(), &runs)
	})
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if runs == nil {
			runs = []*runbook.Run{}
		}
		return enc.Encode(runs)
	}
	return writeRuns(out, runs)
}

// errUsage marks an error in how the command was called (exit 2).
var errUsage = errors.New("usage")

// runsQuery is rf as the console's GET /api/runs reads it.
func runsQuery(rf runbook.RunFilter) url.Values {
	q := url.Values{"limit": {strconv.Itoa(rf.Limit)}}
	if rf.App != "" {
		q.Set("app", rf.App)
	}
	if rf.Env != "" {
		q.Set("env", rf.Env)
	}
	if len(rf.States) > 0 {
		names := make([]string, len(rf.States))
		for i, s := range rf.States {
			names[i] = string(s)
		}
		q.Set("state", strings.Join(names, ","))
	}
	if !rf.Since.IsZero() {
		q.Set("since", rf.Since.UTC().Format(time.RFC3339))
	}
	return q
}

// writeRuns prints runs as a table, one run a line.
func writeRuns(out io.Writer, runs []*runbook.Run) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintln(out, "no runs")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tACTION\tAPP\tENV\tVERSION\tSTATE\tREQUESTED\tBY\tTOOK")
	for _, r := range runs {
		took := "-"
		if !r.FinishedAt.IsZero() {
			took = r.FinishedAt.Sub(r.CreatedAt).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Action, r.App, r.Env, r.Version,
			r.State, r.CreatedAt.Local().Format("2006-01-02 15:04"), r.Requester, took)
	}
	return tw.Flush()
}
