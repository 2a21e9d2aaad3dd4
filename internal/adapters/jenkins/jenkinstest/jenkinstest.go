package jenkinstest

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Job is a job the fake serves, as a test declares it.
type Job struct {
	// Name is the job's full name; "/" separates folders, so that
	// "deploy/billing" is /job/deploy/job/billing.
	Name string
	// Folder makes the item a folder, which cannot be built.
	Folder bool
	// Params are the parameters the job declares, each a string parameter
	// with an empty default.
	Params []string
	// Disabled makes the job refuse builds with a 409.
	Disabled bool
	// Refuse, if set, makes a build request fail with a 500 and this
	// message, as Jenkins does when it rejects a value (an illegal choice).
	Refuse string
	// ForbidBuild makes a build request fail with a 403, as for a user
	// without the Job/Build permission.
	ForbidBuild bool
	// QueueDelay is how many looks at a new queue item find it waiting
	// before its build starts.
	QueueDelay int
	// CancelAfter, if not 0, is the look at a queue item at which Jenkins
	// cancels it (as a person might) before its build starts.
	CancelAfter int
	// Why are the reasons a waiting queue item gives, one per look, the
	// last repeated.
	Why []string
	// Script is what each build does.
	Script Script
	// ScriptFor, if set, gives each build its script from the parameters
	// it was requested with, instead of Script.
	ScriptFor func(params url.Values) Script
}

// Script is what a build does: each look at its status writes the next
// chunk of its console; after the last one it ends with Result, once
// Duration has passed and Hold is closed.
type Script struct {
	// Chunks is the console, a chunk per look; a chunk may end mid-line.
	Chunks []string
	// Result is how the build ends: SUCCESS, UNSTABLE, FAILURE or ABORTED.
	Result string
	// Estimated is Jenkins's estimate of the build's duration; 0 is no
	// estimate (Jenkins's -1).
	Estimated time.Duration
	// Duration, if not 0, keeps the build running after its chunks until
	// this long after it started.
	Duration time.Duration
	// Hold, if not nil, keeps the build running after its chunks until the
	// test closes it; one never closed keeps it running until it is
	// stopped.
	Hold <-chan struct{}
	// Tail is console written after the build has ended, once the console
	// was read TailLag more times: Jenkins may report a build ended before
	// its console has its last lines (X-More-Data stays true meanwhile).
	Tail    string
	TailLag int
	// DownAfter, if not 0, starts the outage Down when chunk DownAfter
	// (from 1) is written: Jenkins fails in the middle of the build.
	DownAfter int
	Down      Outage
}

// Fault is how a request fails during an outage.
type Fault int

// The faults of an outage.
const (
	// Starting answers 503 with the page of a Jenkins starting up.
	Starting Fault = iota
	// Drop closes the connection without an answer. Go's HTTP client
	// sends a GET again by itself when a connection it reused is closed
	// so, which counts as another request.
	Drop
	// Hang accepts the request and never answers.
	Hang
)

// Outage makes the next Requests requests fail with Fault.
type Outage struct {
	Requests int
	Fault    Fault
}

// Duplicate is what Jenkins does with a build request for a job that
// already has an item waiting in the queue.
type Duplicate int

// The ways Jenkins takes a duplicate build request.
const (
	// Queued queues another item.
	Queued Duplicate = iota
	// Merged merges it into the waiting item, as Jenkins does for
	// identical parameters: the answer names the waiting item.
	Merged
	// Refused vetoes it, as a queue decision handler does: Jenkins answers
	// with a redirect to the job and queues nothing.
	Refused
)

// PastBuild is a build added as it stands rather than run by a script,
// such as the CI builds a check looks for.
type PastBuild struct {
	Params      url.Values
	DisplayName string   // "": Jenkins's "#n"
	Artifacts   []string // relative paths, such as dist/billing-1.2.tar.gz
	Result      string   // "": still running
}

// Build is a build as it stands, for a test's assertions.
type Build struct {
	Number  int64
	Params  url.Values
	Running bool
	Result  string // "" while running
	// Stopped says the build was stopped through the API.
	Stopped bool
}

// QueueItem is a queue item as it stands, for a test's assertions.
type QueueItem struct {
	ID        int64
	Job       string
	Cancelled bool
	Build     int64 // 0 until its build starts
}

// Server is the fake. Queue items are numbered from 17 and each job's
// builds from 1, in the order they start.
type Server struct {
	// URL is the server's base URL, for the jenkins block's url.
	URL string

	t           testing.TB
	srv         *httptest.Server
	user, token string

	mu       sync.Mutex
	jobs     map[string]*job
	items    map[int64]*item
	nextItem int64
	outage   Outage
	requests []string // "METHOD /path?query", in order
	quit     chan struct{}
}

// New starts a fake that accepts user with token, closed when the test
// ends.
func New(t testing.TB, user, token string) *Server {
	s := &Server{t: t, user: user, token: token, jobs: map[string]*job{}, items: map[int64]*item{}, nextItem: 17,
		quit: make(chan struct{})}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.quit) }) // runs first: hanging requests end
	return s
}

// job is a Job with what Jenkins keeps about it.
type job struct {
	Job
	// waiting is an item already in the queue, and duplicate what a new
	// request does meanwhile.
	waiting   *item
	duplicate Duplicate
	next      int64
	builds    []*build     // oldest first
	triggers  []url.Values // the parameters of each build request
}

// AddJob adds j, replacing any job of the same name.
func (s *Server) AddJob(j Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.Params = slices.Clone(j.Params)
	s.jobs[j.Name] = &job{Job: j, next: 1}
}

// StartBuild starts a build of job with params, as if it had been
// requested earlier, and returns its number.
func (s *Server) StartBuild(job string, params url.Values) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newBuild(s.mustJob(job), params).number
}

// AddBuild adds a build of job as b says and returns its number.
func (s *Server) AddBuild(job string, b PastBuild) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	nb := s.newBuild(s.mustJob(job), b.Params)
	nb.displayName, nb.artifacts = b.DisplayName, slices.Clone(b.Artifacts)
	if b.Result != "" {
		nb.done, nb.result = true, b.Result
	}
	return nb.number
}

// QueueWaiting puts an item in job's queue, as if another request had,
// and returns its id; dup says what a build request does while it waits.
func (s *Server) QueueWaiting(job string, dup Duplicate) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.mustJob(job)
	it := s.newItem(j, nil)
	j.waiting, j.duplicate = it, dup
	return it.id
}

// CancelItem cancels queue item id, as a person might in Jenkins's UI.
func (s *Server) CancelItem(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.items[id]; it != nil {
		it.cancel()
	}
}

// Down makes requests fail as o says, from the next one; the zero
// Outage ends an outage.
func (s *Server) Down(o Outage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = o
}

// Requests returns every request received, in order, each as
// "METHOD /path" followed by "?query" if it had one.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Seen returns how many requests began with prefix, such as
// "POST /queue/cancelItem".
func (s *Server) Seen(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// Triggers returns the form parameters of each request to build job that
// Jenkins accepted, merged into a waiting item or refused by the queue
// included.
func (s *Server) Triggers(job string) []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []url.Values
	for _, v := range s.mustJob(job).triggers {
		out = append(out, cloneValues(v))
	}
	return out
}

// Started returns how many builds of job have started, however they were
// requested.
func (s *Server) Started(job string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mustJob(job).builds)
}

// Builds returns job's builds, oldest first.
func (s *Server) Builds(job string) []Build {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Build
	for _, b := range s.mustJob(job).builds {
		out = append(out, b.snapshot())
	}
	return out
}

// Build returns build n of job, and whether it exists.
func (s *Server) Build(job string, n int64) (Build, bool) {
	for _, b := range s.Builds(job) {
		if b.Number == n {
			return b, true
		}
	}
	return Build{}, false
}

// QueueItem returns queue item id, and whether it exists.
func (s *Server) QueueItem(id int64) (QueueItem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return QueueItem{}, false
	}
	q := QueueItem{ID: it.id, Job: it.job.Name, Cancelled: it.cancelled}
	if it.build != nil {
		q.Build = it.build.number
	}
	return q, true
}

// mustJob returns the job called name, failing the test if there is none:
// a test asking about a job it never added is mistaken.
func (s *Server) mustJob(name string) *job {
	j := s.jobs[name]
	if j == nil {
		s.t.Fatalf("jenkinstest: no job %q was added", name)
	}
	return j
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
