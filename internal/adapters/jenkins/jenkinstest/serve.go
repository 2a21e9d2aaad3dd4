package jenkinstest

import (
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ServeHTTP answers one request to Jenkins's remote API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	s.requests = append(s.requests, line)
	if s.outage.Requests > 0 {
		s.outage.Requests--
		s.fail(w, r, s.outage.Fault)
		return
	}
	w.Header().Set("X-Jenkins", "2.440")
	w.Header().Set("X-Hudson", "1.395")
	if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.token {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		msg := "Authentication required"
		if ok {
			msg = "Invalid password/token for user: " + u
		}
		page(w, http.StatusUnauthorized, "Error 401 Unauthorized", msg)
		return
	}
	// Jetty (Jenkins 2.4xx) rejects empty path segments.
	if strings.Contains(r.URL.Path, "//") {
		page(w, http.StatusBadRequest, "Error 400 Ambiguous URI empty segment", "Ambiguous URI empty segment")
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case slices.Equal(segs, []string{"api", "json"}):
		s.root(w)
	case slices.Equal(segs, []string{"me", "api", "json"}):
		// hudson.model.User, as /me shows the logged-in user.
		s.json(w, map[string]any{"_class": "hudson.model.User", "absoluteUrl": s.url("/user/" + url.PathEscape(s.user)),
			"description": nil, "fullName": s.user, "id": s.user, "property": []any{}})
	case slices.Equal(segs, []string{"crumbIssuer", "api", "json"}):
		// No crumb issuer answers for API-token users.
		notFound(w)
	case len(segs) == 5 && segs[0] == "queue" && segs[1] == "item" && segs[3] == "api" && segs[4] == "json":
		s.queueItem(w, segs[2])
	case slices.Equal(segs, []string{"queue", "cancelItem"}):
		if post(w, r) {
			s.cancelItem(w, r.URL.Query().Get("id"))
		}
	case segs[0] == "job":
		s.jobRequest(w, r, segs)
	default:
		notFound(w)
	}
}

// fail answers r as an outage with fault f does. It is called, and
// returns, with s.mu held.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, f Fault) {
	switch f {
	case Hang:
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		s.mu.Lock()
	case Drop:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	default:
		page(w, http.StatusServiceUnavailable, "Starting Jenkins", "Jenkins is getting ready to work")
	}
}

func (s *Server) jobRequest(w http.ResponseWriter, r *http.Request, segs []string) {
	var parts []string
	for len(segs) >= 2 && segs[0] == "job" {
		parts = append(parts, segs[1])
		segs = segs[2:]
	}
	j := s.jobs[strings.Join(parts, "/")]
	if j == nil {
		notFound(w)
		return
	}
	switch {
	case len(segs) == 0 || slices.Equal(segs, []string{"api", "json"}):
		s.jobJSON(w, r, j)
	case len(segs) == 1 && (segs[0] == "build" || segs[0] == "buildWithParameters"):
		if post(w, r) {
			s.trigger(w, r, j, segs[0])
		}
	case len(segs) >= 2:
		s.buildRequest(w, r, j, segs)
	default:
		notFound(w)
	}
}

// buildRequest answers the URLs under a build: segs is the build's number
// and what follows it.
func (s *Server) buildRequest(w http.ResponseWriter, r *http.Request, j *job, segs []string) {
	n, err := strconv.ParseInt(segs[0], 10, 64)
	var b *build
	for _, x := range j.builds {
		if err == nil && x.number == n {
			b = x
		}
	}
	if b == nil {
		notFound(w)
		return
	}
	switch {
	case slices.Equal(segs[1:], []string{"api", "json"}):
		s.advance(b)
		s.json(w, s.buildJSON(b))
	case slices.Equal(segs[1:], []string{"logText", "progressiveText"}):
		s.console(w, r, b)
	case slices.Equal(segs[1:], []string{"stop"}):
		if !post(w, r) {
			return
		}
		s.stop(b)
		w.Header().Set("Location", s.buildURL(b))
		w.WriteHeader(http.StatusFound)
	default:
		notFound(w)
	}
}

func post(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		page(w, http.StatusMethodNotAllowed, "Error 405", "This URL requires POST")
		return false
	}
	return true
}

func notFound(w http.ResponseWriter) { page(w, http.StatusNotFound, "Not Found", "Not Found") }

// page answers with an error page like Jenkins's (Jetty's, for errors
// thrown as HTTP responses).
func page(w http.ResponseWriter, code int, title, msg string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html><head><title>%s</title></head><body><h2>HTTP ERROR %d %s</h2><table><tr><th>URI:</th><td>/</td></tr><tr><th>STATUS:</th><td>%d</td></tr><tr><th>MESSAGE:</th><td>%s</td></tr></table><pre>%s</pre></body></html>",
		html.EscapeString(title), code, html.EscapeString(msg), code, html.EscapeString(msg), html.EscapeString(msg))
}

func (s *Server) json(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.t.Errorf("jenkinstest: %v", err)
	}
}

func (s *Server) url(p string) string { return s.URL + p }

// jobURLPath is the path of job name's page, with a trailing slash.
func jobURLPath(name string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(name, "/") {
		b.WriteString("/job/" + url.PathEscape(part))
	}
	return b.String() + "/"
}

func (s *Server) root(w http.ResponseWriter) {
	var jobs []map[string]any
	for _, name := range slices.Sorted(maps.Keys(s.jobs)) {
		j := s.jobs[name]
		jobs = append(jobs, map[string]any{"_class": j.class(), "name": name, "url": s.url(jobURLPath(name)), "color": j.color()})
	}
	s.json(w, map[string]any{
		"_class": "hudson.model.Hudson", "assignedLabels": []any{map[string]any{"name": "built-in"}},
		"mode": "NORMAL", "nodeDescription": "the Jenkins controller's built-in node", "nodeName": "",
		"numExecutors": 2, "description": nil, "jobs": jobs, "quietingDown": false, "slaveAgentPort": -1,
		"useCrumbs": true, "useSecurity": true, "views": []any{map[string]any{"_class": "hudson.model.AllView", "name": "all", "url": s.url("/")}},
	})
}

func (j *job) class() string {
	if j.Folder {
		return "com.cloudbees.hudson.plugins.folder.Folder"
	}
	return "hudson.model.FreeStyleProject"
}

func (j *job) color() string {
	if j.Disabled {
		return "disabled"
	}
	return "blue"
}

// shortName is the job's name without its folders.
func (j *job) shortName() string { return j.Name[strings.LastIndex(j.Name, "/")+1:] }

func (s *Server) jobJSON(w http.ResponseWriter, r *http.Request, j *job) {
	name := j.shortName()
	if j.Folder {
		s.json(w, map[string]any{"_class": j.class(), "name": name, "fullName": j.Name, "url": s.url(jobURLPath(j.Name)), "jobs": []any{}})
		return
	}
	var builds []any
	for i := len(j.builds) - 1; i >= 0; i-- {
		builds = append(builds, s.buildJSON(j.builds[i]))
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
	if len(j.Params) > 0 {
		var defs []any
		for _, p := range j.Params {
			def := map[string]any{"_class": "hudson.model.StringParameterDefinition", "description": "", "name": p, "type": "StringParameterDefinition"}
			def["defaultParameterValue"] = map[string]any{"_class": "hudson.model.StringParameterValue", "name": p, "value": ""}
			defs = append(defs, def)
		}
		props = append(props, map[string]any{"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": defs})
	}
	s.json(w, map[string]any{
		"_class": j.class(), "actions": []any{map[string]any{}}, "description": "", "displayName": name,
		"fullDisplayName": strings.ReplaceAll(j.Name, "/", " » "), "fullName": j.Name, "name": name,
		"url": s.url(jobURLPath(j.Name)), "buildable": !j.Disabled, "builds": builds, "color": j.color(),
		"inQueue": j.waiting != nil, "keepDependencies": false, "nextBuildNumber": j.next,
		"property": props, "queueItem": queueItem, "concurrentBuild": false,
	})
}

// trigger answers a request to build j at endpoint ("build" or
// "buildWithParameters").
func (s *Server) trigger(w http.ResponseWriter, r *http.Request, j *job, endpoint string) {
	if err := r.ParseForm(); err != nil {
		page(w, http.StatusBadRequest, "Bad Request", err.Error())
		return
	}
	switch {
	case j.ForbidBuild:
		page(w, http.StatusForbidden, "Error 403 Forbidden", s.user+" is missing the Job/Build permission")
		return
	case j.Disabled:
		page(w, http.StatusConflict, "Error 409 Conflict", j.Name+" is not buildable!")
		return
	case endpoint == "buildWithParameters" && len(j.Params) == 0:
		page(w, http.StatusInternalServerError, "Error 500 Server Error", "java.lang.IllegalStateException: This build is not parameterized!")
		return
	case j.Refuse != "":
		page(w, http.StatusInternalServerError, "Error 500 Server Error", j.Refuse)
		return
	}
	j.triggers = append(j.triggers, r.PostForm)
	it := j.waiting
	switch {
	case it != nil && j.duplicate == Refused:
		w.Header().Set("Location", s.url(jobURLPath(j.Name)))
		w.WriteHeader(http.StatusSeeOther)
		return
	case it == nil || j.duplicate != Merged:
		it = s.newItem(j, r.PostForm)
	}
	w.Header().Set("Location", s.url(fmt.Sprintf("/queue/item/%d/", it.id)))
	w.WriteHeader(http.StatusCreated)
}
