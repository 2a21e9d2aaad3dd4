package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"shipmate/internal/runbook"
)

// Directory tells the members of Slack user groups, for roles given as
// groups. Answers are cached,
// and concurrent lookups of one key share a single request.
type Directory struct {
	api *slack.Client
	ttl time.Duration
	log zerolog.Logger
	now func() time.Time

	groups cache[[]string]

	mu     sync.Mutex
	warned bool // the warning that groups cannot be read was logged
}

var _ runbook.GroupResolver = (*Directory)(nil)

// DefaultDirectoryTTL is how long group members are cached when
// NewDirectory is given no ttl.
const DefaultDirectoryTTL = 5 * time.Minute

// lookupTimeout bounds one usergroups.users.list request.
// The request outlives the caller that started it (others may be waiting
// for it, and its answer is cached), so it does not use the caller's ctx.
const lookupTimeout = 10 * time.Second

// NewDirectory returns a directory that caches answers for ttl (5 minutes
// when ttl <= 0).
func NewDirectory(api *slack.Client, ttl time.Duration, log zerolog.Logger) *Directory {
	if ttl <= 0 {
		ttl = DefaultDirectoryTTL
	}
	d := &Directory{api: api, ttl: ttl, log: log, now: time.Now}
	d.groups.init()
	return d
}

// GroupMembers implements runbook.GroupResolver with usergroups.users.list.
// When the workspace or token cannot read user groups at all (a free plan,
// a missing usergroups:read scope), it says so once in the log and returns
// no members, so that only the user ids listed in roles count.
func (d *Directory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	ids, err := d.groups.get(ctx, group, d.now, func() ([]string, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		ids, err := d.api.GetUserGroupMembersContext(ctx, group)
		if err == nil {
			return ids, d.ttl, nil
		}
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			if why, ok := groupsUnreadable[se.Err]; ok {
				d.warnGroupsUnreadable(group, se.Err, why)
				// Asking again within ttl would fail the same way.
				return []string{}, d.ttl, nil
			}
		}
		return nil, 0, err
	})
	if err != nil {
		return nil, fmt.Errorf("slack: members of user group %s: %w", group, err)
	}
	return slices.Clone(ids), nil
}

// groupsUnreadable are the usergroups.users.list errors that mean no group
// can be read, with what to do about each.
var groupsUnreadable = map[string]string{
	"plan_upgrade_required":  "user groups need a paid Slack plan",
	"missing_scope":          "the bot token lacks the usergroups:read scope; add it and reinstall the app",
	"not_allowed_token_type": "this token type cannot read user groups; use the bot token (xoxb-)",
}

func (d *Directory) warnGroupsUnreadable(group, code, why string) {
	d.mu.Lock()
	first := !d.warned
	d.warned = true
	d.mu.Unlock()
	ev := d.log.Debug()
	if first {
		ev = d.log.Warn()
	}
	ev.Str("group", group).Str("error", code).
		Msgf("slack: cannot read user group membership (%s): only the user ids listed in roles count, not %s_groups", why, Platform)
}

// cache holds values for a while; concurrent misses of one key share one
// fetch (the singleflight pattern, with a mutex and a map).
type cache[T any] struct {
	mu      sync.Mutex
	entries map[string]cacheEntry[T]
	flights map[string]*flight[T]
}

type cacheEntry[T any] struct {
	val     T
	expires time.Time
}

// flight is one fetch in progress; done is closed when val and err are set.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func (c *cache[T]) init() {
	c.entries = map[string]cacheEntry[T]{}
	c.flights = map[string]*flight[T]{}
}

// get returns key's cached value, or fetches it: fetch returns the value
// and how long to keep it (0: not at all). The caller waits for the fetch
// until ctx ends; the fetch goes on for the others and the cache.
func (c *cache[T]) get(ctx context.Context, key string, now func() time.Time, fetch func() (T, time.Duration, error)) (T, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && now().Before(e.expires) {
		c.mu.Unlock()
		return e.val, nil
	}
	f, ok := c.flights[key]
	if !ok {
		f = &flight[T]{done: make(chan struct{})}
		c.flights[key] = f
		go c.fly(key, f, now, fetch)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func (c *cache[T]) fly(key string, f *flight[T], now func() time.Time, fetch func() (T, time.Duration, error)) {
	val, keep, err := fetch()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, key)
	if err == nil && keep > 0 {
		c.entries[key] = cacheEntry[T]{val: val, expires: now().Add(keep)}
	}
	f.val, f.err = val, err
	close(f.done)
}

// renderUser shows a person: a Slack user id becomes a mention, which Slack
// displays as the person's name; anything else is escaped text.
func renderUser(v string) string {
	id := v
	if inner, ok := strings.CutPrefix(v, "<@"); ok {
		id, _ = strings.CutSuffix(inner, ">")
	}
	if renderIsUserID(id) {
		return "<@" + id + ">"
	}
	return renderEscaper.Replace(v)
}

// renderIsUserID reports whether s looks like a Slack user id: U or W, then
// upper-case letters and digits with at least one digit. Display names
// rarely look like that; ids always do.
func renderIsUserID(s string) bool {
	if len(s) < 3 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	digit := false
	for _, c := range s[1:] {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'A' && c <= 'Z':
		default:
			return false
		}
	}
	return digit
}
