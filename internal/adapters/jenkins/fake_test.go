package jenkins

import (
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeJenkins speaks the parts of Jenkins's remote API that Shipmate and
// gojenkins use, with Jenkins's JSON shapes, status codes and headers (see
// Jenkins's "Remote Access API" documentation and the classes behind each
// URL: Hudson, Job, Queue.Item, Run, AnnotatedLargeText). Each test
// scripts its jobs, builds and faults.
type fakeJenkins struct {
	t           *testing.T
	srv         *httptest.Server
	user, token string

	mu       sync.Mutex
	jobs     map[string]*fakeJob
	items    map[int64]*fakeItem
	nextItem int64
	// outage makes the next requests fail: outageMode "close" drops the
	// connection, "503" answers as a Jenkins that is starting up, "hang"
	// never answers.
	outage     int
	outageMode string
	requests   []string // "METHOD /path?query", in order
	quit       chan struct{}
}

type fakeJob struct {
	name     string // "deploy/billing"
	folder   bool
	params   []string // declared parameters
	disabled bool
	// refuse, if set, makes buildWithParameters fail with a 500 and this
	// message (Jenkins rejecting a value, such as an illegal choice).
	refuse      string
	forbidBuild bool // the user lacks Job/Build: 403
	// waiting is an item already in the queue. alreadyQueued says what a
	// new request does then: "collapse" (Jenkins merges it into the waiting
	// item, as it does for identical parameters) or "refuse" (a queue
	// decision handler vetoes it: Jenkins redirects to the job).
	waiting       *fakeItem
	alreadyQueued string

	// scriptFor, if set, gives each build its script from its parameters.
	scriptFor func(params url.Values) buildScript

	queueDelay  int      // looks at a new queue item before its build starts
	cancelAfter int      // looks after which Jenkins cancels the item (0: never)
	why         []string // queue reasons, one per look, the last repeated
	script      buildScript

	next     int64
	builds   []*fakeBuild // oldest first
	triggers []url.Values // the parameters of each build request
}

// buildScript is what a build does: each look at its status writes the
// next chunk of console, then it ends with result.
type buildScript struct {
	chunks    []string
	result    string
	estimated time.Duration // 0: Jenkins has no estimate (-1)
	// tail is written after the build has ended, once the console was read
	// tailLag more times (X-More-Data stays true meanwhile).
	tail    string
	tailLag int
	// onStep runs (with the fake locked) when chunk step (from 1) is written.
	onStep func(f *fakeJenkins, step int)
	// forever keeps the build running after its chunks, until stopped.
	forever bool
}

type fakeItem struct {
	id        int64
	job       *fakeJob
	params    url.Values
	looks     int
	cancelled bool
	build     *fakeBuild
}

type fakeBuild struct {
	job         *fakeJob
	number      int64
	params      url.Values
	script      buildScript
	step        int
	log         []byte
	done        bool
	result      string
	stopped     bool
	displayName string
	artifacts   []string
	timestamp   int64
	tailPending bool
	lagLeft     int
}

func newFakeJenkins(t *testing.T, user, token string) *fakeJenkins {
	f := &fakeJenkins{t: t, user: user, token: token, jobs: map[string]*fakeJob{}, items: map[int64]*fakeItem{}, nextItem: 17}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.quit = make(chan struct{})
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.quit) }) // runs first: hanging requests end
	return f
}

// addJob adds a job whose builds run script.
func (f *fakeJenkins) addJob(j *fakeJob) *fakeJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j.next == 0 {
		j.next = 1
	}
	f.jobs[j.name] = j
	return j
}

// startBuild starts a build of job directly (as if triggered earlier).
func (f *fakeJenkins) startBuild(job string, params url.Values) *fakeBuild {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newBuild(f.jobs[job], params)
}

func (f *fakeJenkins) newBuild(j *fakeJob, params url.Values) *fakeBuild {
	script := j.script
	if j.scriptFor != nil {
		script = j.scriptFor(params)
	}
	b := &fakeBuild{job: j, number: j.next, params: params, script: script, timestamp: time.Now().UnixMilli()}
	j.next++
	j.builds = append(j.builds, b)
	return b
}

// down makes the next n requests fail.
func (f *fakeJenkins) down(n int, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outage, f.outageMode = n, mode
}

// seen returns how many requests began with prefix ("POST /queue/cancelItem").
func (f *fakeJenkins) seen(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeJenkins) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeJenkins) job(name string) *fakeJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[name]
}

func (f *fakeJenkins) build(job string, n int64) *fakeBuild {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.jobs[job].builds {
		if b.number == n {
			return b
		}
	}
	return nil
}

// triggers returns the parameters of each build request of job.
func (f *fakeJenkins) triggers(job string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.jobs[job].triggers)
}

func (f *fakeJenkins) url(p string) string { return f.srv.URL + p }

func jobURLPath(name string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(name, "/") {
		b.WriteString("/job/" + url.PathEscape(part))
	}
	return b.String() + "/"
}

func (f *fakeJenkins) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	f.requests = append(f.requests, line)

	if f.outage > 0 {
		f.outage--
		if f.outageMode == "hang" {
			// Accept the request, never answer.
			f.mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-f.quit:
			}
			f.mu.Lock()
			return
		}
		if f.outageMode == "close" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		f.page(w, http.StatusServiceUnavailable, "Starting Jenkins", "Jenkins is getting ready to work")
		return
	}
	w.Header().Set("X-Jenkins", "2.440")
	w.Header().Set("X-Hudson", "1.395")
	if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.token {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		msg := "Authentication required"
		if ok {
			msg = "Invalid password/token for user: " + u
		}
		f.page(w, http.StatusUnauthorized, "Error 401 Unauthorized", msg)
		return
	}
	// Jetty (Jenkins 2.4xx) rejects empty path segments.
	if strings.Contains(r.URL.Path, "//") {
		f.page(w, http.StatusBadRequest, "Error 400 Ambiguous URI empty segment", "Ambiguous URI empty segment")
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case slices.Equal(segs, []string{"api", "json"}):
		f.root(w)
	case slices.Equal(segs, []string{"crumbIssuer", "api", "json"}):
		// No crumb issuer answers for API-token users.
		f.page(w, http.StatusNotFound, "Not Found", "Not Found")
	case len(segs) == 5 && segs[0] == "queue" && segs[1] == "item" && segs[3] == "api" && segs[4] == "json":
		f.queueItem(w, segs[2])
	case slices.Equal(segs, []string{"queue", "cancelItem"}):
		if !f.post(w, r) {
			return
		}
		f.cancelItem(w, r.URL.Query().Get("id"))
	case segs[0] == "job":
		f.jobRequest(w, r, segs)
	default:
		f.page(w, http.StatusNotFound, "Not Found", "Not Found")
	}
}

func (f *fakeJenkins) jobRequest(w http.ResponseWriter, r *http.Request, segs []string) {
	var parts []string
	for len(segs) >= 2 && segs[0] == "job" {
		parts = append(parts, segs[1])
		segs = segs[2:]
	}
	j := f.jobs[strings.Join(parts, "/")]
	if j == nil {
		f.page(w, http.StatusNotFound, "Not Found", "Not Found")
		return
	}
	switch {
	case len(segs) == 0 || slices.Equal(segs, []string{"api", "json"}):
		f.jobJSON(w, r, j)
	case len(segs) == 1 && (segs[0] == "build" || segs[0] == "buildWithParameters"):
		if !f.post(w, r) {
			return
		}
		f.trigger(w, r, j, segs[0])
	case len(segs) >= 2:
		n, err := strconv.ParseInt(segs[0], 10, 64)
		var b *fakeBuild
		for _, x := range j.builds {
			if err == nil && x.number == n {
				b = x
			}
		}
		if b == nil {
			f.page(w, http.StatusNotFound, "Not Found", "Not Found")
			return
		}
		switch {
		case slices.Equal(segs[1:], []string{"api", "json"}):
			b.advance(f)
			f.json(w, f.buildJSON(b))
		case slices.Equal(segs[1:], []string{"logText", "progressiveText"}):
			f.console(w, r, b)
		case slices.Equal(segs[1:], []string{"stop"}):
			if !f.post(w, r) {
				return
			}
			b.stop()
			w.Header().Set("Location", f.url(jobURLPath(j.name)+strconv.FormatInt(b.number, 10)+"/"))
			w.WriteHeader(http.StatusFound)
		default:
			f.page(w, http.StatusNotFound, "Not Found", "Not Found")
		}
	default:
		f.page(w, http.StatusNotFound, "Not Found", "Not Found")
	}
}

func (f *fakeJenkins) post(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		f.page(w, http.StatusMethodNotAllowed, "Error 405", "This URL requires POST")
		return false
	}
	return true
}

// page answers with an error page like Jenkins's (Jetty's, for errors
// thrown as HTTP responses).
func (f *fakeJenkins) page(w http.ResponseWriter, code int, title, msg string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html><head><title>%s</title></head><body><h2>HTTP ERROR %d %s</h2><table><tr><th>URI:</th><td>/</td></tr><tr><th>STATUS:</th><td>%d</td></tr><tr><th>MESSAGE:</th><td>%s</td></tr></table><pre>%s</pre></body></html>",
		html.EscapeString(title), code, html.EscapeString(msg), code, html.EscapeString(msg), html.EscapeString(msg))
}

func (f *fakeJenkins) json(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("fake jenkins: %v", err)
	}
}

func (f *fakeJenkins) root(w http.ResponseWriter) {
	var jobs []map[string]any
	for _, name := range slices.Sorted(maps.Keys(f.jobs)) {
		j := f.jobs[name]
		jobs = append(jobs, map[string]any{"_class": j.class(), "name": name, "url": f.url(jobURLPath(name)), "color": j.color()})
	}
	f.json(w, map[string]any{
		"_class": "hudson.model.Hudson", "assignedLabels": []any{map[string]any{"name": "built-in"}},
		"mode": "NORMAL", "nodeDescription": "the Jenkins controller's built-in node", "nodeName": "",
		"numExecutors": 2, "description": nil, "jobs": jobs, "quietingDown": false, "slaveAgentPort": -1,
		"useCrumbs": true, "useSecurity": true, "views": []any{map[string]any{"_class": "hudson.model.AllView", "name": "all", "url": f.url("/")}},
	})
}

func (j *fakeJob) class() string {
	if j.folder {
		return "com.cloudbees.hudson.plugins.folder.Folder"
	}
	return "hudson.model.FreeStyleProject"
}

func (j *fakeJob) color() string {
	if j.disabled {
		return "disabled"
	}
	return "blue"
}

func (f *fakeJenkins) jobJSON(w http.ResponseWriter, r *http.Request, j *fakeJob) {
	name := j.name[strings.LastIndex(j.name, "/")+1:]
	if j.folder {
		f.json(w, map[string]any{"_class": j.class(), "name": name, "fullName": j.name, "url": f.url(jobURLPath(j.name)), "jobs": []any{}})
		return
	}
	var builds []any
	for i := len(j.builds) - 1; i >= 0; i-- {
		builds = append(builds, f.buildJSON(j.builds[i]))
	}
	// A tree range such as builds[...]{0,50} limits the list.
	if tree := r.URL.Query().Get("tree"); strings.Contains(tree, "{0,") {
		if n, err := strconv.Atoi(tree[strings.LastIndex(tree, "{0,")+3 : len(tree)-1]); err == nil && len(builds) > n {
			builds = builds[:n]
		}
	}
	var queueItem any
	if j.waiting != nil {
		queueItem = map[string]any{"_class": "hudson.model.Queue$WaitingItem", "blocked": false, "buildable": false,
			"id": j.waiting.id, "why": "Build #1 is already in progress (ETA: 1 min 2 sec)", "stuck": false}
	}
	var props []any
	if len(j.params) > 0 {
		var defs []any
		for _, p := range j.params {
			def := map[string]any{"_class": "hudson.model.StringParameterDefinition", "description": "", "name": p, "type": "StringParameterDefinition"}
			def["defaultParameterValue"] = map[string]any{"_class": "hudson.model.StringParameterValue", "name": p, "value": ""}
			defs = append(defs, def)
		}
		props = append(props, map[string]any{"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": defs})
	}
	f.json(w, map[string]any{
		"_class": j.class(), "actions": []any{map[string]any{}}, "description": "", "displayName": name,
		"fullDisplayName": strings.ReplaceAll(j.name, "/", " » "), "fullName": j.name, "name": name,
		"url": f.url(jobURLPath(j.name)), "buildable": !j.disabled, "builds": builds, "color": j.color(),
		"inQueue": j.waiting != nil, "keepDependencies": false, "nextBuildNumber": j.next,
		"property": props, "queueItem": queueItem, "concurrentBuild": false,
	})
}

func (f *fakeJenkins) trigger(w http.ResponseWriter, r *http.Request, j *fakeJob, endpoint string) {
	if err := r.ParseForm(); err != nil {
		f.page(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	switch {
	case j.forbidBuild:
		f.page(w, http.StatusForbidden, "Error 403 Forbidden", f.user+" is missing the Job/Build permission")
		return
	case j.disabled:
		f.page(w, http.StatusConflict, "Error 409 Conflict", j.name+" is not buildable!")
		return
	case endpoint == "buildWithParameters" && len(j.params) == 0:
		f.page(w, http.StatusInternalServerError, "Error 500 Server Error", "java.lang.IllegalStateException: This build is not parameterized!")
		return
	case j.refuse != "":
		f.page(w, http.StatusInternalServerError, "Error 500 Server Error", j.refuse)
		return
	}
	j.triggers = append(j.triggers, r.PostForm)
	if j.waiting != nil {
		switch j.alreadyQueued {
		case "refuse":
			w.Header().Set("Location", f.url(jobURLPath(j.name)))
			w.WriteHeader(http.StatusSeeOther)
			return
		case "collapse":
			w.Header().Set("Location", f.url(fmt.Sprintf("/queue/item/%d/", j.waiting.id)))
			w.WriteHeader(http.StatusCreated)
			return
		}
	}
	it := &fakeItem{id: f.nextItem, job: j, params: r.PostForm}
	f.nextItem++
	f.items[it.id] = it
	w.Header().Set("Location", f.url(fmt.Sprintf("/queue/item/%d/", it.id)))
	w.WriteHeader(http.StatusCreated)
}

// queueWaiting puts an item in job's queue, as if another request had.
func (f *fakeJenkins) queueWaiting(job string, mode string) *fakeItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	j := f.jobs[job]
	it := &fakeItem{id: f.nextItem, job: j}
	f.nextItem++
	f.items[it.id] = it
	j.waiting, j.alreadyQueued = it, mode
	return it
}

func (f *fakeJenkins) queueItem(w http.ResponseWriter, idText string) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	it := f.items[id]
	if it == nil {
		f.page(w, http.StatusNotFound, "Not Found", "Not Found")
		return
	}
	it.looks++
	j := it.job
	if j.cancelAfter > 0 && it.looks >= j.cancelAfter && it.build == nil {
		it.cancelled = true
	}
	if !it.cancelled && it.build == nil && it.looks > j.queueDelay {
		it.build = f.newBuild(j, it.params)
		if j.waiting == it {
			j.waiting = nil
		}
	}
	task := map[string]any{"_class": j.class(), "name": j.name[strings.LastIndex(j.name, "/")+1:], "url": f.url(jobURLPath(j.name)), "color": j.color()}
	v := map[string]any{
		"actions": []any{map[string]any{"_class": "hudson.model.ParametersAction", "parameters": paramsJSON(it.params)},
			map[string]any{"_class": "hudson.model.CauseAction", "causes": []any{map[string]any{"_class": "hudson.model.Cause$UserIdCause", "shortDescription": "Started by user " + f.user, "userId": f.user, "userName": f.user}}}},
		"blocked": false, "buildable": false, "id": it.id, "inQueueSince": time.Now().UnixMilli(), "params": "", "stuck": false,
		"task": task, "url": fmt.Sprintf("queue/item/%d/", it.id),
	}
	switch {
	case it.cancelled:
		v["_class"], v["cancelled"], v["executable"], v["why"] = "hudson.model.Queue$LeftItem", true, nil, nil
	case it.build != nil:
		v["_class"], v["cancelled"], v["why"] = "hudson.model.Queue$LeftItem", false, nil
		v["executable"] = map[string]any{"_class": "hudson.model.FreeStyleBuild", "number": it.build.number,
			"url": f.url(jobURLPath(j.name) + strconv.FormatInt(it.build.number, 10) + "/")}
	default:
		why := "In the quiet period. Expires in 4.9 sec"
		if len(j.why) > 0 {
			why = j.why[min(it.looks, len(j.why))-1]
		}
		v["_class"], v["why"], v["buildable"] = "hudson.model.Queue$BuildableItem", why, true
		v["pending"], v["buildableStartMilliseconds"] = false, time.Now().UnixMilli()
	}
	f.json(w, v)
}

func (f *fakeJenkins) cancelItem(w http.ResponseWriter, idText string) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	it := f.items[id]
	if it == nil {
		f.page(w, http.StatusNotFound, "Not Found", "Provided queue item id was not found")
		return
	}
	if it.build == nil {
		it.cancelled = true
		if it.job.waiting == it {
			it.job.waiting = nil
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func paramsJSON(v url.Values) []any {
	out := []any{}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		out = append(out, map[string]any{"_class": "hudson.model.StringParameterValue", "name": k, "value": v.Get(k)})
	}
	return out
}

// advance moves a running build on by one chunk, or ends it.
func (b *fakeBuild) advance(f *fakeJenkins) {
	if b.done {
		return
	}
	if b.step < len(b.script.chunks) {
		b.log = append(b.log, b.script.chunks[b.step]...)
		b.step++
		if b.script.onStep != nil {
			b.script.onStep(f, b.step)
		}
		return
	}
	if b.script.forever {
		return
	}
	b.done, b.result = true, b.script.result
	if b.script.tailLag > 0 {
		b.tailPending, b.lagLeft = true, b.script.tailLag
		return
	}
	b.log = append(b.log, b.script.tail+"Finished: "+b.result+"\n"...)
}

func (b *fakeBuild) stop() {
	if b.done {
		return
	}
	b.done, b.stopped, b.result, b.tailPending = true, true, "ABORTED", false
	b.log = append(b.log, "Aborted by "+"bob\nFinished: ABORTED\n"...)
}

func (f *fakeJenkins) buildJSON(b *fakeBuild) map[string]any {
	est := int64(-1)
	if b.script.estimated > 0 {
		est = b.script.estimated.Milliseconds()
	}
	display := b.displayName
	if display == "" {
		display = "#" + strconv.FormatInt(b.number, 10)
	}
	var arts []any
	for _, a := range b.artifacts {
		arts = append(arts, map[string]any{"displayPath": a[strings.LastIndex(a, "/")+1:], "fileName": a[strings.LastIndex(a, "/")+1:], "relativePath": a})
	}
	var result, executor any
	duration := int64(0)
	if b.done {
		result, duration = b.result, int64(len(b.script.chunks))*1000
	} else {
		executor = map[string]any{"_class": "hudson.model.Executor", "progress": b.step * 100 / (len(b.script.chunks) + 1)}
	}
	return map[string]any{
		"_class": "hudson.model.FreeStyleBuild",
		"actions": []any{map[string]any{"_class": "hudson.model.ParametersAction", "parameters": paramsJSON(b.params)},
			map[string]any{"_class": "hudson.model.CauseAction", "causes": []any{map[string]any{"_class": "hudson.model.Cause$UserIdCause", "shortDescription": "Started by user bob", "userId": "bob", "userName": "bob"}}}},
		"artifacts": arts, "building": !b.done, "description": nil, "displayName": display, "duration": duration,
		"estimatedDuration": est, "executor": executor, "fullDisplayName": strings.ReplaceAll(b.job.name, "/", " » ") + " " + display,
		"id": strconv.FormatInt(b.number, 10), "keepLog": false, "number": b.number, "queueId": 0, "result": result,
		"timestamp": b.timestamp, "url": f.url(jobURLPath(b.job.name) + strconv.FormatInt(b.number, 10) + "/"),
		"builtOn": "", "changeSet": map[string]any{"_class": "hudson.scm.EmptyChangeLogSet", "items": []any{}, "kind": nil}, "culprits": []any{},
	}
}

// console answers /logText/progressiveText as AnnotatedLargeText does:
// the text from byte start (from 0 when start is past the end),
// X-Text-Size the offset to ask from next, X-More-Data while it may grow.
func (f *fakeJenkins) console(w http.ResponseWriter, r *http.Request, b *fakeBuild) {
	if b.tailPending {
		if b.lagLeft > 0 {
			b.lagLeft--
		} else {
			b.log = append(b.log, b.script.tail+"Finished: "+b.result+"\n"...)
			b.tailPending = false
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("start"))
	if start > len(b.log) {
		start = 0
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.Header().Set("X-Text-Size", strconv.Itoa(len(b.log)))
	if !b.done || b.tailPending {
		w.Header().Set("X-More-Data", "true")
	}
	_, _ = w.Write(b.log[start:])
}
