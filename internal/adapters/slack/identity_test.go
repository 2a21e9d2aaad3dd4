package slack

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipmate/internal/clocktest"
)

// dirTestNew returns a fake Slack and a Directory of it (ttl 1 minute)
// with a clock the test moves.
func dirTestNew(t *testing.T) (*fakeSlack, *Directory, *chatTestLog, *clocktest.Clock) {
	t.Helper()
	f := newFakeSlack(t)
	logs := &chatTestLog{}
	d := NewDirectory(f.Client(), time.Minute, zerolog.New(logs))
	clock := clocktest.New(time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC))
	d.now = clock.Now
	return f, d, logs, clock
}

func TestDirectoryGroupMembers(t *testing.T) {
	f, d, _, now := dirTestNew(t)
	f.SetGroup("S1", "U1", "U2")
	ctx := context.Background()
	for range 3 {
		got, err := d.GroupMembers(ctx, "S1")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"U1", "U2"}) {
			t.Fatalf("members = %v", got)
		}
	}
	if got := f.Calls("usergroups.users.list"); got != 1 {
		t.Errorf("usergroups.users.list calls = %d, want 1 (cached)", got)
	}
	now.Add(2 * time.Minute)
	f.SetGroup("S1", "U1", "U2", "U3")
	if got, _ := d.GroupMembers(ctx, "S1"); len(got) != 3 {
		t.Errorf("members after the ttl = %v, want U3 added", got)
	}
	if _, err := d.GroupMembers(ctx, "S404"); err == nil {
		t.Error("an unknown group gave no error")
	}
	f.ServerErrorNext("usergroups.users.list", 1)
	now.Add(2 * time.Minute)
	if _, err := d.GroupMembers(ctx, "S1"); err == nil {
		t.Error("a 500 gave no error")
	}
	if got, err := d.GroupMembers(ctx, "S1"); err != nil || len(got) != 3 {
		t.Errorf("after a failure: %v, %v; want the members (errors are not cached)", got, err)
	}
}

func TestDirectoryConcurrentLookupsShareOneRequest(t *testing.T) {
	f, d, _, _ := dirTestNew(t)
	f.SetGroup("S1", "U1")
	f.SetDelay("usergroups.users.list", 100*time.Millisecond)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, err := d.GroupMembers(ctx, "S1"); err != nil || !slices.Equal(got, []string{"U1"}) {
				t.Errorf("GroupMembers = %v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if got := f.Calls("usergroups.users.list"); got != 1 {
		t.Errorf("usergroups.users.list calls = %d, want 1", got)
	}
}

func TestDirectoryCallerGivesUp(t *testing.T) {
	f, d, _, _ := dirTestNew(t)
	f.SetGroup("S1", "U1")
	f.SetDelay("usergroups.users.list", 50*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.GroupMembers(ctx, "S1"); err == nil {
		t.Error("GroupMembers for a caller that gave up returned no error")
	}
	// The lookup went on and filled the cache.
	if !f.WaitFor(func() bool {
		got, err := d.GroupMembers(context.Background(), "S1")
		return err == nil && len(got) == 1
	}, 10*time.Second) {
		t.Error("the abandoned lookup did not fill the cache")
	}
	if got := f.Calls("usergroups.users.list"); got != 1 {
		t.Errorf("usergroups.users.list calls = %d, want 1", got)
	}
}

func TestDirectoryGroupsUnreadable(t *testing.T) {
	for _, code := range []string{"plan_upgrade_required", "missing_scope", "not_allowed_token_type"} {
		t.Run(code, func(t *testing.T) {
			f, d, logs, now := dirTestNew(t)
			f.SetGroup("S1", "U1")
			f.FailNext("usergroups.users.list", -1, code)
			ctx := context.Background()
			for _, g := range []string{"S1", "S2", "S1", "S2"} {
				got, err := d.GroupMembers(ctx, g)
				if err != nil || len(got) != 0 {
					t.Fatalf("GroupMembers(%s) = %v, %v; want no members and no error", g, got, err)
				}
			}
			if got := f.Calls("usergroups.users.list"); got != 2 {
				t.Errorf("usergroups.users.list calls = %d, want 2 (the failure is cached per group)", got)
			}
			now.Add(2 * time.Minute)
			d.GroupMembers(ctx, "S1")
			if got := f.Calls("usergroups.users.list"); got != 3 {
				t.Errorf("usergroups.users.list calls = %d, want 3 (asked again after the ttl)", got)
			}
			if n := logs.count("warn", "cannot read user group membership"); n != 1 {
				t.Errorf("warnings = %d, want 1; log:\n%s", n, logs)
			}
			if n := logs.count("warn", "only the user ids listed in roles count"); n != 1 {
				t.Errorf("the warning does not say what counts instead; log:\n%s", logs)
			}
		})
	}
}
