package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"shipmate/internal/runbook"
)

// maxList caps one listing of runs.
const maxList = 1000

// list answers GET /api/runs?app=&env=&state=&since=&limit= with the runs
// picked, newest first (bot runs asks it when the bot holds the store).
// since is an RFC 3339 time; state a comma-separated list of states.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r)
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	runs, err := runbook.ListRuns(r.Context(), h.runs, f)
	if err != nil {
		h.opt.Log.Error().Err(err).Msg("web: list runs")
		refuse(w, http.StatusInternalServerError, "cannot read the store")
		return
	}
	if runs == nil {
		runs = []*runbook.Run{}
	}
	writeJSON(w, http.StatusOK, runs)
}

// listFilter reads a listing's query.
func listFilter(r *http.Request) (runbook.RunFilter, error) {
	q := r.URL.Query()
	f := runbook.RunFilter{App: q.Get("app"), Env: q.Get("env"), Limit: maxList}
	var err error
	if f.States, err = runbook.ParseStates(q.Get("state")); err != nil {
		return f, err
	}
	if s := q.Get("since"); s != "" {
		if f.Since, err = time.Parse(time.RFC3339, s); err != nil {
			return f, fmt.Errorf("since %q: want an RFC 3339 time such as 2026-12-01T00:00:00Z", s)
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxList {
			return f, fmt.Errorf("limit %q: want a number from 1 to %d", s, maxList)
		}
		f.Limit = n
	}
	return f, nil
}
