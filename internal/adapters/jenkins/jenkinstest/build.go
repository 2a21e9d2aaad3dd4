package jenkinstest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// item is a queue item.
type item struct {
	id        int64
	job       *job
	params    url.Values
	looks     int
	cancelled bool
	build     *build
}

// build is a build and how far its script has run.
type build struct {
	job         *job
	number      int64
	params      url.Values
	script      Script
	step        int // chunks written
	log         []byte
	done        bool
	result      string
	stopped     bool
	displayName string
	artifacts   []string
	started     time.Time
	ended       time.Time
	tailPending bool
	lagLeft     int
}

func (s *Server) newItem(j *job, params url.Values) *item {
	it := &item{id: s.nextItem, job: j, params: params}
	s.nextItem++
	s.items[it.id] = it
	return it
}

// cancel cancels the item unless its build has started.
func (it *item) cancel() {
	if it.build != nil {
		return
	}
	it.cancelled = true
	if it.job.waiting == it {
		it.job.waiting = nil
	}
}

func (s *Server) newBuild(j *job, params url.Values) *build {
	script := j.Script
	if j.ScriptFor != nil {
		script = j.ScriptFor(params)
	}
	b := &build{job: j, number: j.next, params: params, script: script, started: time.Now()}
	j.next++
	j.builds = append(j.builds, b)
	return b
}

func (b *build) snapshot() Build {
	return Build{Number: b.number, Params: cloneValues(b.params), Running: !b.done, Result: b.result, Stopped: b.stopped}
}

// advance moves a running build on by one chunk, or ends it when its
// script allows.
func (s *Server) advance(b *build) {
	sc := b.script
	switch {
	case b.done:
		return
	case b.step < len(sc.Chunks):
		b.log = append(b.log, sc.Chunks[b.step]...)
		b.step++
		if sc.DownAfter > 0 && b.step == sc.DownAfter {
			s.outage = sc.Down
		}
		return
	case sc.Duration > 0 && time.Since(b.started) < sc.Duration:
		return
	case sc.Hold != nil && !closed(sc.Hold):
		return
	}
	b.done, b.result, b.ended = true, sc.Result, time.Now()
	if sc.TailLag > 0 {
		b.tailPending, b.lagLeft = true, sc.TailLag
		return
	}
	b.log = append(b.log, sc.Tail+"Finished: "+b.result+"\n"...)
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *Server) stop(b *build) {
	if b.done {
		return
	}
	b.done, b.stopped, b.result, b.tailPending, b.ended = true, true, "ABORTED", false, time.Now()
	b.log = append(b.log, "Aborted by "+s.user+"\nFinished: ABORTED\n"...)
}

// duration is the build's duration as Jenkins reports it once the build
// has ended: the time it ran if the script kept it running, else a second
// per chunk, so that tests that do not wait see a fixed figure.
func (b *build) duration() int64 {
	if b.script.Duration > 0 || b.script.Hold != nil {
		return b.ended.Sub(b.started).Milliseconds()
	}
	return int64(len(b.script.Chunks)) * 1000
}

func (s *Server) buildURL(b *build) string {
	return s.url(jobURLPath(b.job.Name) + strconv.FormatInt(b.number, 10) + "/")
}

func (s *Server) buildJSON(b *build) map[string]any {
	est := int64(-1)
	if b.script.Estimated > 0 {
		est = b.script.Estimated.Milliseconds()
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
		result, duration = b.result, b.duration()
	} else {
		executor = map[string]any{"_class": "hudson.model.Executor", "progress": b.step * 100 / (len(b.script.Chunks) + 1)}
	}
	return map[string]any{
		"_class": "hudson.model.FreeStyleBuild",
		"actions": []any{map[string]any{"_class": "hudson.model.ParametersAction", "parameters": paramsJSON(b.params)},
			s.causeAction()},
		"artifacts": arts, "building": !b.done, "description": nil, "displayName": display, "duration": duration,
		"estimatedDuration": est, "executor": executor, "fullDisplayName": strings.ReplaceAll(b.job.Name, "/", " » ") + " " + display,
		"id": strconv.FormatInt(b.number, 10), "keepLog": false, "number": b.number, "queueId": 0, "result": result,
		"timestamp": b.started.UnixMilli(), "url": s.buildURL(b),
		"builtOn": "", "changeSet": map[string]any{"_class": "hudson.scm.EmptyChangeLogSet", "items": []any{}, "kind": nil}, "culprits": []any{},
	}
}

// causeAction says the configured user started the build.
func (s *Server) causeAction() map[string]any {
	return map[string]any{"_class": "hudson.model.CauseAction", "causes": []any{map[string]any{"_class": "hudson.model.Cause$UserIdCause",
		"shortDescription": "Started by user " + s.user, "userId": s.user, "userName": s.user}}}
}

func paramsJSON(v url.Values) []any {
	out := []any{}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		out = append(out, map[string]any{"_class": "hudson.model.StringParameterValue", "name": k, "value": v.Get(k)})
	}
	return out
}

// console answers /logText/progressiveText as AnnotatedLargeText does:
// the text from byte start (from 0 when start is past the end),
// X-Text-Size the offset to ask from next, X-More-Data while it may grow.
func (s *Server) console(w http.ResponseWriter, r *http.Request, b *build) {
	if b.tailPending {
		if b.lagLeft > 0 {
			b.lagLeft--
		} else {
			b.log = append(b.log, b.script.Tail+"Finished: "+b.result+"\n"...)
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

// queueItem answers a look at a queue item, starting its build once it
// has waited long enough.
func (s *Server) queueItem(w http.ResponseWriter, idText string) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	it := s.items[id]
	if it == nil {
		notFound(w)
		return
	}
	it.looks++
	j := it.job
	if j.CancelAfter > 0 && it.looks >= j.CancelAfter && it.build == nil {
		it.cancelled = true
	}
	if !it.cancelled && it.build == nil && it.looks > j.QueueDelay {
		it.build = s.newBuild(j, it.params)
		if j.waiting == it {
			j.waiting = nil
		}
	}
	task := map[string]any{"_class": j.class(), "name": j.shortName(), "url": s.url(jobURLPath(j.Name)), "color": j.color()}
	v := map[string]any{
		"actions": []any{map[string]any{"_class": "hudson.model.ParametersAction", "parameters": paramsJSON(it.params)}, s.causeAction()},
		"blocked": false, "buildable": false, "id": it.id, "inQueueSince": time.Now().UnixMilli(), "params": "", "stuck": false,
		"task": task, "url": fmt.Sprintf("queue/item/%d/", it.id),
	}
	switch {
	case it.cancelled:
		v["_class"], v["cancelled"], v["executable"], v["why"] = "hudson.model.Queue$LeftItem", true, nil, nil
	case it.build != nil:
		v["_class"], v["cancelled"], v["why"] = "hudson.model.Queue$LeftItem", false, nil
		v["executable"] = map[string]any{"_class": "hudson.model.FreeStyleBuild", "number": it.build.number, "url": s.buildURL(it.build)}
	default:
		why := "In the quiet period. Expires in 4.9 sec"
		if len(j.Why) > 0 {
			why = j.Why[min(it.looks, len(j.Why))-1]
		}
		v["_class"], v["why"], v["buildable"] = "hudson.model.Queue$BuildableItem", why, true
		v["pending"], v["buildableStartMilliseconds"] = false, time.Now().UnixMilli()
	}
	s.json(w, v)
}

func (s *Server) cancelItem(w http.ResponseWriter, idText string) {
	id, _ := strconv.ParseInt(idText, 10, 64)
	it := s.items[id]
	if it == nil {
		page(w, http.StatusNotFound, "Not Found", "Provided queue item id was not found")
		return
	}
	it.cancel()
	w.WriteHeader(http.StatusNoContent)
}
