package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The JSON the console API speaks, declared here rather than imported so
// that the tests check the wire format a browser sees.

// reply is the answer to POST /api/command and POST /api/runs/{id}/action.
type reply struct {
	Text  string `json:"text"`
	RunID uint64 `json:"run_id"`
	Error bool   `json:"error"`
	Code  string `json:"code"`
}

type user struct {
	Platform string `json:"platform"`
	ID       string `json:"id"`
}

type checkItem struct {
	Key  string `json:"key"`
	Done bool   `json:"done"`
	By   *user  `json:"by"`
}

type approval struct {
	By       user   `json:"by"`
	Artifact string `json:"artifact"`
}

type run struct {
	ID              uint64      `json:"id"`
	Action          string      `json:"action"`
	Env             string      `json:"env"`
	Version         string      `json:"version"`
	PreviousVersion string      `json:"previous_version"`
	Artifact        string      `json:"artifact"`
	Requester       user        `json:"requester"`
	State           string      `json:"state"`
	Note            string      `json:"note"`
	Checklist       []checkItem `json:"checklist"`
	Approvals       []approval  `json:"approvals"`
	StepHandle      string      `json:"step_handle"`
}

type event struct {
	Seq    uint64 `json:"seq"`
	Type   string `json:"type"`
	Actor  *user  `json:"actor"`
	From   string `json:"from"`
	To     string `json:"to"`
	Detail string `json:"detail"`
}

// record is GET /api/runs/{id} and the output of bot export.
type record struct {
	Run    *run    `json:"run"`
	Events []event `json:"events"`
}

// transitionedTo reports whether the audit trail has a transition to state.
func (r record) transitionedTo(state string) bool {
	return slices.ContainsFunc(r.Events, func(e event) bool { return e.Type == "transition" && e.To == state })
}

// timelineEntry is one element of GET /api/timeline.
type timelineEntry struct {
	Ref string `json:"ref"`
}

var client = &http.Client{Timeout: 5 * time.Second}

// consoleAddr is where the bot serves the web console and its API.
func (b *bot) consoleAddr() string {
	if b.console != "" {
		return b.console
	}
	return b.addr
}

// do sends a request to the bot's console API and decodes a JSON answer into out (when
// not nil). It returns the status code; transport errors fail the test.
func (b *bot) do(method, path string, body, out any) int {
	b.t.Helper()
	return b.doWith(client, method, path, body, out)
}

// doWith is do through the client c.
func (b *bot) doWith(c *http.Client, method, path string, body, out any) int {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			b.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+b.consoleAddr()+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s %s: %v", b.name, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s %s: read body: %v", b.name, method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s %s: %s: decode %q: %v", b.name, method, path, resp.Status, data, err)
		}
	}
	return resp.StatusCode
}

// command types a chat line in the console as user.
func (b *bot) command(who, text string) reply {
	b.t.Helper()
	var rep reply
	if code := b.do("POST", "/api/command", map[string]string{"user": who, "text": text}, &rep); code != http.StatusOK {
		b.t.Fatalf("%s: %q by %s: status %d: %+v", b.name, text, who, code, rep)
	}
	return rep
}

// request types a /deploy line that must be accepted, and returns the run id.
func (b *bot) request(who, text string) uint64 {
	b.t.Helper()
	rep := b.command(who, text)
	if rep.Error || rep.RunID == 0 {
		b.t.Fatalf("%s: %q by %s refused: %+v", b.name, text, who, rep)
	}
	return rep.RunID
}

// act presses a button (approve, reject, cancel, tick, untick, rollback) on
// run id as user; item is the checklist key for tick and untick.
func (b *bot) act(id uint64, who, action, item string) reply {
	b.t.Helper()
	var rep reply
	body := map[string]string{"user": who, "action": action, "item": item}
	if code := b.do("POST", fmt.Sprintf("/api/runs/%d/action", id), body, &rep); code != http.StatusOK {
		b.t.Fatalf("%s: %s on #%d by %s: status %d: %+v", b.name, action, id, who, code, rep)
	}
	return rep
}

// mustAct is act for an action that must succeed.
func (b *bot) mustAct(id uint64, who, action, item string) reply {
	b.t.Helper()
	rep := b.act(id, who, action, item)
	if rep.Error {
		b.t.Fatalf("%s: %s %s on #%d by %s refused: %s", b.name, action, item, id, who, rep.Text)
	}
	return rep
}

// record returns run id with its audit trail.
func (b *bot) record(id uint64) record {
	b.t.Helper()
	var rec record
	if code := b.do("GET", fmt.Sprintf("/api/runs/%d", id), nil, &rec); code != http.StatusOK || rec.Run == nil {
		b.t.Fatalf("%s: GET /api/runs/%d: status %d", b.name, id, code)
	}
	return rec
}

// waitState polls run id until it is in state, and returns its record.
// It fails at once when the run ends in another terminal state.
func (b *bot) waitState(id uint64, state string) record {
	b.t.Helper()
	var rec record
	eventually(b.t, stateTimeout, fmt.Sprintf("%s: run #%d to be %s", b.name, id, state), func() (bool, string) {
		rec = b.record(id)
		if rec.Run.State != state && terminal[rec.Run.State] {
			b.t.Fatalf("%s: run #%d ended %s (%s), want %s", b.name, id, rec.Run.State, rec.Run.Note, state)
		}
		return rec.Run.State == state, fmt.Sprintf("%s (%s)", rec.Run.State, rec.Run.Note)
	})
	return rec
}

// terminal lists the states a run never leaves.
var terminal = map[string]bool{
	"succeeded": true, "rejected": true, "cancelled": true, "expired": true, "failed": true,
	"rolled_back": true, "rollback_failed": true, "interrupted": true,
}

// timelineHas reports whether GET /api/timeline shows run id.
func (b *bot) timelineHas(id uint64) bool {
	b.t.Helper()
	var entries []timelineEntry
	if code := b.do("GET", "/api/timeline", nil, &entries); code != http.StatusOK {
		b.t.Fatalf("%s: GET /api/timeline: status %d", b.name, code)
	}
	return slices.ContainsFunc(entries, func(e timelineEntry) bool { return e.Ref == fmt.Sprintf("run-%d", id) })
}

// get returns the status and body of a plain GET such as /readyz; a
// transport error is returned, not fatal, for probes during shutdown.
func (b *bot) get(path string) (int, string, error) {
	resp, err := client.Get("http://" + b.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data)), err
}
