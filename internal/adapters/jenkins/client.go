// Package jenkins deploys apps by running Jenkins jobs and checks checklist
// items against CI builds.
//
// gojenkins (v1.2.0) connects and checks the server (Init); every other
// request goes through Client.call, plain net/http with basic auth,
// because the library's helpers lose what Shipmate needs at the moments
// that matter: they drop the HTTP status when Jenkins answers with an HTML
// error page (so a missing job and a Jenkins restarting look alike),
// BuildJob gives (0, nil) when the job is already queued and posts to
// /build, dropping the parameters, when the job declares none, every Post
// dereferences a nil response when its crumb request fails (a cancelled
// context panics), GetBuildFromQueueID sleeps without watching ctx and
// never sees a cancelled queue item, Build.IsRunning and GetConsoleOutput
// swallow errors, and Job.GetBuild builds "//" paths. libfaults_test.go
// shows each of them against the fake Jenkins the tests use.
package jenkins

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bndr/gojenkins"
	"github.com/rs/zerolog"
)

// timing holds the client's waits; tests shorten them.
type timing struct {
	init     time.Duration // the first contact, gojenkins's Init included
	request  time.Duration // one request, its body read included
	queue    time.Duration // between looks at a queue item
	build    time.Duration // between looks at a running build
	retryMin time.Duration // first wait after Jenkins failed to answer
	retryMax time.Duration // longest wait between retries
	cleanup  time.Duration // stopping a build or cancelling a queue item after ctx ended
	drain    time.Duration // reading the console's tail after the build ended
}

var defaultTiming = timing{
	init:     15 * time.Second,
	request:  30 * time.Second,
	queue:    time.Second,
	build:    2 * time.Second,
	retryMin: time.Second,
	retryMax: 30 * time.Second,
	cleanup:  15 * time.Second,
	drain:    30 * time.Second,
}

// Client talks to one Jenkins server. It is safe for concurrent use.
type Client struct {
	base  string // the configured URL without a trailing slash
	user  string
	token string
	http  *http.Client
	log   zerolog.Logger
	now   func() time.Time
	t     timing

	jk      *gojenkins.Jenkins
	initSem chan struct{} // held while connecting; a channel so waiting watches ctx
	ready   atomic.Bool
}

// gojenkinsMu serialises gojenkins's Init, which sets the library's
// package-level loggers.
var gojenkinsMu sync.Mutex

// NewClient checks cfg and returns a client for it. It does not contact
// Jenkins: that happens, bounded in time, before the first request.
func NewClient(cfg ServerConfig, log zerolog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL, "/")
	hc := &http.Client{
		// Jenkins answers a POST (stop, cancelItem, build) with a redirect to
		// a page; following it would only fetch HTML, and a 3xx is success.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if via[0].Method == http.MethodPost {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	var jk *gojenkins.Jenkins
	if cfg.User != "" {
		jk = gojenkins.CreateJenkins(hc, base, cfg.User, cfg.Token)
	} else {
		jk = gojenkins.CreateJenkins(hc, base)
	}
	return &Client{
		base: base, user: cfg.User, token: cfg.Token, http: hc,
		log: log.With().Str("jenkins", base).Logger(),
		now: time.Now, t: defaultTiming, jk: jk,
		initSem: make(chan struct{}, 1),
	}, nil
}

// Ping checks that Jenkins answers and accepts the credentials, for
// /readyz.
func (c *Client) Ping(ctx context.Context) error {
	contacted, err := c.ensureInit(ctx)
	if err != nil || contacted {
		return c.redact(err)
	}
	_, err = c.call(ctx, http.MethodGet, "/api/json", url.Values{"tree": {"mode"}}, nil, 64<<10)
	return c.redact(err)
}

// ensureInit connects to Jenkins once: no gojenkins call may come before
// its Init. It reports whether it contacted Jenkins this time. A failure
// is not remembered: the next call tries again.
func (c *Client) ensureInit(ctx context.Context) (bool, error) {
	if c.ready.Load() {
		return false, nil
	}
	select {
	case c.initSem <- struct{}{}:
		defer func() { <-c.initSem }()
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if c.ready.Load() {
		return false, nil
	}
	ictx, cancel := context.WithTimeout(ctx, c.t.init)
	defer cancel()
	// A request of our own first: its status tells an unreachable server,
	// rejected credentials and something that is not Jenkins apart, which
	// Init's error does not.
	res, err := c.call(ictx, http.MethodGet, "/api/json", url.Values{"tree": {"mode"}}, nil, 64<<10)
	if err != nil {
		if ctx.Err() == nil && ictx.Err() != nil {
			return true, &unreachableError{base: c.base, err: fmt.Errorf("no answer within %s", c.t.init)}
		}
		return true, err
	}
	if res.header.Get("X-Jenkins") == "" {
		return true, fmt.Errorf("%s does not look like Jenkins: its answer has no X-Jenkins header", c.base)
	}
	gojenkinsMu.Lock()
	_, err = c.jk.Init(ictx)
	gojenkinsMu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		return true, fmt.Errorf("Jenkins at %s answered, but gojenkins could not initialise: %w", c.base, err)
	}
	c.ready.Store(true)
	c.log.Info().Str("version", c.jk.Version).Str("user", c.user).Msg("jenkins: connected")
	return true, nil
}

// response is a Jenkins answer with a success status (below 400).
type response struct {
	status int
	header http.Header
	body   []byte
	cut    bool // the body was longer than the limit; the rest was dropped
}

// call makes one request to path (which starts with "/" and is escaped)
// and reads at most limit bytes of the answer. form, if not nil, is sent
// as the body. Errors are ctx's error when ctx ended, *unreachableError
// when Jenkins did not answer, and *statusError for a status of 400 or
// more.
func (c *Client) call(ctx context.Context, method, path string, query, form url.Values, limit int64) (*response, error) {
	rctx, cancel := context.WithTimeout(ctx, c.t.request)
	defer cancel()
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(rctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("bad Jenkins request %s %s: %v", method, path, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.token)
	}
	began := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, rctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, c.transportError(ctx, rctx, err)
	}
	c.log.Debug().Str("method", method).Str("path", path).Int("status", resp.StatusCode).
		Dur("took", time.Since(began)).Msg("jenkins request")
	if resp.StatusCode >= 400 {
		return nil, &statusError{
			code: resp.StatusCode, msg: c.scrub(jenkinsMessage(resp.Header, data)),
			method: method, path: path, base: c.base, user: c.user,
		}
	}
	res := &response{status: resp.StatusCode, header: resp.Header, body: data}
	if int64(len(data)) > limit {
		res.body, res.cut = data[:limit], true
	}
	return res, nil
}

func (c *Client) transportError(ctx, rctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rctx.Err() != nil {
		return &unreachableError{base: c.base, err: fmt.Errorf("no answer within %s", c.t.request)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL and query
	}
	return &unreachableError{base: c.base, err: errors.New(c.scrub(err.Error()))}
}

// unreachableError says Jenkins did not answer.
type unreachableError struct {
	base string
	err  error
}

func (e *unreachableError) Error() string {
	return "Jenkins at " + e.base + " is unreachable: " + e.err.Error()
}

func (e *unreachableError) Unwrap() error { return e.err }

// statusError is Jenkins answering with an error status. Callers that know
// what a 404 or a 400 means for their request say so instead.
type statusError struct {
	code         int
	msg          string // Jenkins's own explanation, if it gave one
	method, path string
	base, user   string
}

func (e *statusError) Error() string {
	var s string
	switch e.code {
	case http.StatusUnauthorized:
		if e.user == "" {
			return "Jenkins at " + e.base + " requires a login: set user and token in the jenkins block"
		}
		s = "Jenkins rejected the credentials for user " + e.user + " (401 Unauthorized): check the jenkins block's user and API token"
	case http.StatusForbidden:
		s = fmt.Sprintf("Jenkins rejected the credentials for user %s for %s %s (403 Forbidden)", e.user, e.method, e.path)
	default:
		s = fmt.Sprintf("Jenkins at %s answered %d %s to %s %s", e.base, e.code, http.StatusText(e.code), e.method, e.path)
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

// hasStatus reports whether err is Jenkins answering one of codes.
func hasStatus(err error, codes ...int) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.code == c {
			return true
		}
	}
	return false
}

// transient reports whether err may go away by itself: Jenkins did not
// answer, was overloaded, or is restarting ("Jenkins is getting ready to
// work" is a 503).
func transient(err error) bool {
	var ue *unreachableError
	if errors.As(err, &ue) {
		return true
	}
	var se *statusError
	return errors.As(err, &se) && (se.code >= 500 || se.code == http.StatusTooManyRequests)
}

var (
	preRE   = regexp.MustCompile(`(?is)<pre[^>]*>(.*?)</pre>`)
	h2RE    = regexp.MustCompile(`(?is)<h2[^>]*>(.*?)</h2>`)
	titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// jenkinsMessage extracts Jenkins's explanation from an error answer: the
// X-Error header, or the text of its error page.
func jenkinsMessage(h http.Header, body []byte) string {
	if x := h.Get("X-Error"); x != "" {
		return clip(x)
	}
	s := string(body)
	if !strings.Contains(h.Get("Content-Type"), "html") && !strings.HasPrefix(strings.TrimSpace(s), "<") {
		return clip(strings.TrimSpace(s))
	}
	for _, re := range []*regexp.Regexp{preRE, h2RE, titleRE} {
		if m := re.FindStringSubmatch(s); m != nil {
			if t := clip(html.UnescapeString(tagRE.ReplaceAllString(m[1], " "))); t != "" {
				return t
			}
		}
	}
	return ""
}

// clip makes s one line of at most 300 bytes.
func clip(s string) string {
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// scrub removes the token from text that came from outside.
func (c *Client) scrub(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

// redact makes sure err's text holds no token, keeping what it wraps.
func (c *Client) redact(err error) error {
	if err == nil || c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return &redactedError{msg: c.scrub(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
