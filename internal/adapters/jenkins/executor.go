package jenkins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/runbook"
)

// Executor deploys and rolls back one app by running its Jenkins job. It
// implements runbook.Executor and runbook.Reattacher, and is safe for
// concurrent use.
//
// A step triggers the job with the configured parameters, follows the
// queue item to a build, records the build number with Job.Save, streams
// the console to Progress line by line, and ends with the build's result.
// Cancelling ctx stops the build (or removes the queue item), so ctx must
// be cancelled only when the deployment is to stop, not when the bot shuts
// down. Everything is bounded by JobConfig.Timeout, after which a build
// still running is stopped too.
type Executor struct {
	c    *Client
	cfg  JobConfig
	path string // "/job/deploy/job/billing"
}

var (
	_ runbook.Executor   = (*Executor)(nil)
	_ runbook.Reattacher = (*Executor)(nil)
)

// NewExecutor checks cfg, fills in its defaults and returns the executor
// of an app whose deployments run cfg.Job on c's Jenkins.
func NewExecutor(c *Client, cfg JobConfig) (*Executor, error) {
	if c == nil {
		return nil, errors.New("jenkins: no Jenkins server is configured (the top-level jenkins block with url, user and token)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Params = maps.Clone(cfg.Params)
	cfg.RollbackParams = maps.Clone(cfg.RollbackParams)
	path, _ := jobPath(cfg.Job) // Validate checked it
	return &Executor{c: c, cfg: cfg, path: path}, nil
}

// Deploy implements runbook.Executor: it runs the job with Params.
func (x *Executor) Deploy(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	s := x.newStep(ctx, j, p)
	defer s.cancel()
	return x.c.redact(s.run(x.cfg.Params))
}

// Rollback implements runbook.Executor: it runs the job with
// RollbackParams merged over Params. In j, Version is the version being
// returned to and PreviousVersion the one being replaced. In
// rollback_params, {previous_version} reads as a release engineer writes
// it — the previous version, the one to go back to — and
// {replaced_version} names the one being replaced.
func (x *Executor) Rollback(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	params := maps.Clone(x.cfg.Params)
	if params == nil {
		params = map[string]string{}
	}
	for k, v := range x.cfg.RollbackParams {
		params[k] = strings.ReplaceAll(v, "{previous_version}", j.Version)
	}
	s := x.newStep(ctx, j, p)
	defer s.cancel()
	return x.c.redact(s.run(params))
}

// Reattach implements runbook.Reattacher: it follows the build whose
// number the step saved (j.Handle) to its result, showing the end of the
// console so far and then what follows. It never triggers the job: a step
// with no build number has an unknown outcome (the run ends as
// interrupted). Timeout counts from the re-attach.
func (x *Executor) Reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	s := x.newStep(ctx, j, p)
	defer s.cancel()
	h := strings.TrimSpace(j.Handle)
	if h == "" {
		return fmt.Errorf("Shipmate stopped before Jenkins gave the build a number; check the job's queue and builds (%s) to see whether %s ran (%w)",
			x.jobURL(), x.cfg.Job, runbook.ErrOutcomeUnknown)
	}
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("cannot re-attach to Jenkins: the saved handle %q is not a build number; check %s", h, x.jobURL())
	}
	if _, err := x.c.ensureInit(s.tctx); err != nil {
		return x.c.redact(s.beforeTrigger(err))
	}
	s.say("re-attaching to Jenkins build %s #%d after a restart", x.cfg.Job, n)
	return x.c.redact(s.follow(n, "", true))
}

// jobURL is the job's page, for messages written without asking Jenkins.
func (x *Executor) jobURL() string { return x.c.base + x.path + "/" }

// errTimedOut is the cause of a step's context ending at JobConfig.Timeout.
var errTimedOut = errors.New("timed out")

// step is one Deploy, Rollback or Reattach.
type step struct {
	x      *Executor
	c      *Client
	ctx    context.Context // the caller's
	tctx   context.Context // ctx bounded by Timeout
	cancel context.CancelFunc
	j      runbook.Job
	p      runbook.Progress
	log    zerolog.Logger
}

func (x *Executor) newStep(ctx context.Context, j runbook.Job, p runbook.Progress) *step {
	if p == nil {
		p = func(string) {}
	}
	if pass := p; x.c.token != "" {
		// Console lines come from the build; the token has no business there.
		p = func(l string) { pass(x.c.scrub(l)) }
	}
	tctx, cancel := context.WithTimeoutCause(ctx, x.cfg.Timeout, errTimedOut)
	return &step{
		x: x, c: x.c, ctx: ctx, tctx: tctx, cancel: cancel, j: j, p: p,
		log: x.c.log.With().Str("app", j.App).Str("env", j.Env).Uint64("run", j.RunID).
			Str("job", x.cfg.Job).Str("action", string(j.Action)).Logger(),
	}
}

// say reports a line about the step, prefixed with the app's name.
func (s *step) say(format string, args ...any) {
	s.p(s.j.App + ": " + fmt.Sprintf(format, args...))
}

// interrupted returns why the step's context ended: the caller's error
// (a cancel, or its own deadline), errTimedOut, or nil while it runs.
func (s *step) interrupted() error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if s.tctx.Err() != nil {
		return errTimedOut
	}
	return nil
}

// run triggers the job with tmpl's parameters and follows it to its end.
func (s *step) run(tmpl map[string]string) error {
	name := s.x.cfg.Job
	if _, err := s.c.ensureInit(s.tctx); err != nil {
		return s.beforeTrigger(err)
	}
	job, err := s.c.job(s.tctx, name, s.x.path)
	if err != nil {
		return s.beforeTrigger(err)
	}
	switch {
	case job.Buildable == nil:
		return fmt.Errorf("%s in Jenkins is not a job that can be built (it is a %s)", name, shortClass(job.Class))
	case !*job.Buildable:
		return fmt.Errorf("Jenkins job %s is disabled", name)
	}
	params := make(map[string]string, len(tmpl))
	for k, v := range tmpl {
		params[k] = expand(v, s.j)
	}
	if declared := job.params(); len(declared) > 0 {
		// Jenkins ignores a parameter the job does not declare and builds
		// with the defaults: a VERSION it never sees deploys the default.
		var unknown []string
		for _, k := range slices.Sorted(maps.Keys(params)) {
			if !slices.Contains(declared, k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			return fmt.Errorf("Jenkins job %s declares no parameter %s (it has %s); Jenkins would build with its defaults instead, so Shipmate did not start it",
				name, strings.Join(unknown, ", "), strings.Join(declared, ", "))
		}
	}
	s.say("starting Jenkins job %s%s", name, describeParams(tmpl, params))
	id, err := s.c.trigger(s.tctx, name, s.x.path, len(job.params()) > 0, params)
	if err != nil {
		if cause := s.interrupted(); cause != nil {
			return s.whileTriggering(cause)
		}
		if errors.Is(err, errNotQueued) && job.InQueue {
			why := ""
			if job.QueueItem != nil && job.QueueItem.Why != "" {
				why = " (" + job.QueueItem.Why + ")"
			}
			return fmt.Errorf("%w; the job already has a build waiting in Jenkins's queue%s: let it run or cancel it in Jenkins (%s), then try again",
				err, why, s.x.jobURL())
		}
		return err
	}
	s.log.Info().Int64("queue_item", id).Msg("jenkins: build queued")
	if job.QueueItem != nil && job.QueueItem.ID == id {
		s.say("Jenkins merged the request into queue item %d, which was already waiting with the same parameters", id)
	} else {
		s.say("queued in Jenkins as item %d", id)
	}
	n, url, err := s.waitQueue(id)
	if err != nil {
		return err
	}
	s.save(n)
	s.log.Info().Int64("build", n).Str("url", url).Msg("jenkins: build started")
	s.say("Jenkins build #%d started: %s", n, url)
	return s.follow(n, url, false)
}

// beforeTrigger explains an error met before the job was triggered.
func (s *step) beforeTrigger(err error) error {
	switch cause := s.interrupted(); {
	case cause == errTimedOut:
		return fmt.Errorf("Jenkins did not answer within %s; nothing was started", s.x.cfg.Timeout)
	case cause != nil:
		return fmt.Errorf("cancelled before anything was started in Jenkins: %w", cause)
	}
	return err
}

// whileTriggering explains the step ending while Jenkins was being asked
// to build: whether it queued a build is unknown.
func (s *step) whileTriggering(cause error) error {
	msg := fmt.Sprintf("stopped while asking Jenkins to start %s; if it queued a build anyway, cancel it there (%s)", s.x.cfg.Job, s.x.jobURL())
	if cause == errTimedOut {
		return errors.New(msg)
	}
	return fmt.Errorf("cancelled: %s: %w", msg, cause)
}

// describeParams lists the parameters for the progress line: the values
// made from placeholders (the version, the environment) are shown; fixed
// values from the configuration might be secrets, so only their names are.
func describeParams(tmpl, params map[string]string) string {
	if len(params) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if strings.Contains(tmpl[k], "{") {
			parts = append(parts, k+"="+params[k])
		} else {
			parts = append(parts, k)
		}
	}
	return " with " + strings.Join(parts, ", ")
}

// shortClass turns "com.cloudbees.hudson.plugins.folder.Folder" into
// "Folder".
func shortClass(class string) string {
	if class == "" {
		return "item of unknown kind"
	}
	return class[strings.LastIndexAny(class, ".$")+1:]
}

// save records the build number so that a restarted bot can re-attach. A
// failure to record it does not stop the build: it is reported, and a
// restart would then end the step as interrupted.
func (s *step) save(n int64) {
	if s.j.Save == nil {
		return
	}
	if err := s.j.Save(strconv.FormatInt(n, 10)); err != nil {
		s.log.Warn().Err(err).Int64("build", n).Msg("jenkins: cannot save the build number")
		s.say("could not record build #%d for re-attaching after a restart: %v", n, err)
	}
}

// waitQueue follows queue item id until Jenkins starts its build, and
// returns the build's number and URL.
func (s *step) waitQueue(id int64) (int64, string, error) {
	name := s.x.cfg.Job
	out := s.outage(fmt.Sprintf("waiting for queue item %d", id))
	lastWhy := ""
	for {
		it, err := s.c.queueItem(s.tctx, id)
		switch {
		case s.tctx.Err() != nil:
		case err == nil:
			out.over()
			if it.Cancelled {
				return 0, "", fmt.Errorf("the queue item was cancelled in Jenkins (%s, queue item %d): nothing was built", name, id)
			}
			if it.Executable != nil && it.Executable.Number > 0 {
				url := it.Executable.URL
				if url == "" {
					url = s.c.base + buildPath(s.x.path, it.Executable.Number) + "/"
				}
				return it.Executable.Number, url, nil
			}
			// Reasons count down ("Expires in 4.9 sec", "ETA: 1 min 2 sec"):
			// only a new kind of reason is worth a line.
			if key := numberRE.ReplaceAllString(it.Why, "N"); it.Why != "" && key != lastWhy {
				lastWhy = key
				s.say("waiting in Jenkins's queue: %s", it.Why)
			}
			_ = sleep(s.tctx, s.c.t.queue)
		case hasStatus(err, 404):
			return 0, "", fmt.Errorf("Jenkins no longer knows queue item %d of %s; look for its build at %s", id, name, s.x.jobURL())
		case transient(err):
			_ = out.wait(err)
		default:
			return 0, "", err
		}
		if s.tctx.Err() != nil {
			return 0, "", s.abandonQueue(id)
		}
	}
}

var numberRE = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// cleanupCtx is for requests made after the step's context ended.
func (s *step) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(s.ctx), s.c.t.cleanup)
}

// abandonQueue removes queue item id after a cancel or timeout. If the
// item started a build meanwhile, that build is stopped.
func (s *step) abandonQueue(id int64) error {
	ctx, cancel := s.cleanupCtx()
	defer cancel()
	cerr := s.c.cancelQueueItem(ctx, id)
	if it, err := s.c.queueItem(ctx, id); err == nil && it.Executable != nil && it.Executable.Number > 0 {
		return s.abandonBuild(it.Executable.Number, it.Executable.URL)
	}
	if hasStatus(cerr, 404) {
		cerr = nil
	}
	did := fmt.Sprintf("Shipmate removed queue item %d of %s from Jenkins's queue", id, s.x.cfg.Job)
	if cerr != nil {
		s.log.Warn().Err(cerr).Int64("queue_item", id).Msg("jenkins: cannot cancel the queue item")
		did = fmt.Sprintf("Shipmate could not remove queue item %d from Jenkins's queue (%v): cancel it there (%s)", id, cerr, s.x.jobURL())
	} else {
		s.log.Info().Int64("queue_item", id).Msg("jenkins: queue item cancelled")
	}
	cause := s.interrupted()
	if cause == errTimedOut {
		return fmt.Errorf("Jenkins did not start %s within %s; %s", s.x.cfg.Job, s.x.cfg.Timeout, did)
	}
	return fmt.Errorf("cancelled while queued: %s: %w", did, cause)
}

// abandonBuild stops build n after a cancel or timeout.
func (s *step) abandonBuild(n int64, url string) error {
	ctx, cancel := s.cleanupCtx()
	defer cancel()
	if url == "" {
		url = s.c.base + buildPath(s.x.path, n) + "/"
	}
	did := fmt.Sprintf("Shipmate stopped Jenkins build %s #%d (%s)", s.x.cfg.Job, n, url)
	if err := s.c.stopBuild(ctx, s.x.path, n); err != nil {
		s.log.Warn().Err(err).Int64("build", n).Msg("jenkins: cannot stop the build")
		did = fmt.Sprintf("Shipmate could not stop Jenkins build %s #%d (%v): stop it there (%s)", s.x.cfg.Job, n, err, url)
	} else {
		s.log.Info().Int64("build", n).Msg("jenkins: build stopped")
	}
	cause := s.interrupted()
	if cause == errTimedOut {
		return fmt.Errorf("Jenkins build %s #%d did not finish within %s; %s", s.x.cfg.Job, n, s.x.cfg.Timeout, did)
	}
	return fmt.Errorf("cancelled: %s: %w", did, cause)
}

// outage tracks Jenkins not answering while a step follows it: the step
// says so once, waits longer each time, and says when Jenkins is back.
type outage struct {
	s     *step
	doing string
	down  bool
	delay time.Duration
}

func (s *step) outage(doing string) *outage { return &outage{s: s, doing: doing} }

// wait reports err (the first time) and waits before the next try.
func (o *outage) wait(err error) error {
	if !o.down {
		o.down, o.delay = true, o.s.c.t.retryMin
		o.s.log.Warn().Err(o.s.c.redact(err)).Str("doing", o.doing).Msg("jenkins: not answering; retrying")
		o.s.say("%v; still %s, trying again", o.s.c.redact(err), o.doing)
	} else {
		o.delay = min(2*o.delay, o.s.c.t.retryMax)
	}
	return sleep(o.s.tctx, o.delay)
}

// over notes that Jenkins answered.
func (o *outage) over() {
	if o.down {
		o.down = false
		o.s.log.Info().Str("doing", o.doing).Msg("jenkins: answering again")
		o.s.say("Jenkins answers again; %s", o.doing)
	}
}
