package etcdstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"shipmate/internal/runbook"
	"shipmate/internal/store/storetest"
)

// When etcd is gone, calls fail within the request timeout with an error
// the chat adapters show as such, rather than hanging; a caller that gives
// up still gets its own cancellation back.
func TestUnavailableStore(t *testing.T) {
	const timeout = 300 * time.Millisecond
	p := ownEtcd(t, nil) // this test stops it
	ctx := t.Context()
	s, err := Open(ctx, Config{Endpoints: []string{p.Endpoint}, RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := storetest.NewRun("web", "prod", "1.0")
	storetest.MustCreate(t, s, r)
	p.Stop()

	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Run", func(ctx context.Context) error { _, err := s.Run(ctx, r.ID); return err }},
		{"CreateRun", func(ctx context.Context) error { return s.CreateRun(ctx, storetest.NewRun("api", "prod", "1.0")) }},
		{"SaveRun", func(ctx context.Context) error { c := *r; return s.SaveRun(ctx, &c) }},
		{"Hold", func(ctx context.Context) error { return s.Hold(ctx, runbook.Lock{App: "web", Env: "prod"}) }},
		{"Leader", func(ctx context.Context) error { _, err := s.Leader(ctx); return err }},
		{"Campaign", func(ctx context.Context) error { _, err := s.Campaign(ctx, "replica-a", termTTL); return err }},
		{"Ping", func(context.Context) error { return s.Ping() }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call(ctx)
		took := time.Since(start)
		if code := runbook.ErrorCode(err); code != runbook.EUnavailable {
			t.Errorf("%s with etcd gone = %v (code %q), want code %q", c.name, err, code, runbook.EUnavailable)
			continue
		}
		if msg := runbook.ErrorMessage(err); !strings.Contains(msg, "store is unavailable") {
			t.Errorf("%s: the user reads %q, want it to say the store is unavailable", c.name, msg)
		}
		// Well under the 5s default: the configured timeout bounds it.
		if took > timeout+2*time.Second {
			t.Errorf("%s took %v with a request timeout of %v", c.name, took, timeout)
		}
	}

	// A feed that cannot tell where it starts asks for a rescan first.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if id := next(t, s.Changes(fctx)); id != Rescan {
		t.Errorf("Changes with etcd gone sent %d first, want Rescan", id)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Run(cctx, r.ID); !errors.Is(err, context.Canceled) || runbook.ErrorCode(err) == runbook.EUnavailable {
		t.Errorf("Run with a cancelled context = %v, want context.Canceled and not unavailable", err)
	}
	// A caller's own earlier deadline bounds the call instead.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Run(dctx, r.ID); !errors.Is(err, context.DeadlineExceeded) || runbook.ErrorCode(err) != runbook.EUnavailable {
		t.Errorf("Run past the caller's deadline = %v, want unavailable, wrapping context.DeadlineExceeded", err)
	}
}

// etcd 3.4 sends a request that timed out on its side back as code
// Unknown, "context deadline exceeded": that too is the store being
// unavailable, whether or not the request's own time has run out yet;
// another unknown error is not.
func TestServerSideTimeoutIsUnavailable(t *testing.T) {
	serverSide := status.Error(codes.Unknown, "context deadline exceeded")
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if code := runbook.ErrorCode(failedIn(context.Background(), expired, serverSide)); code != runbook.EUnavailable {
		t.Errorf("a timed-out request's error has code %q, want %q", code, runbook.EUnavailable)
	}
	// etcd kept the deadline it was sent, which may end a moment before
	// the request's own: the same answer with time left is unavailable too.
	if code := runbook.ErrorCode(failedIn(context.Background(), context.Background(), serverSide)); code != runbook.EUnavailable {
		t.Errorf("the same error a moment early has code %q, want %q", code, runbook.EUnavailable)
	}
	if code := runbook.ErrorCode(failedIn(context.Background(), context.Background(), status.Error(codes.Unknown, "some other fault"))); code != runbook.EInternal {
		t.Errorf("another unknown error has code %q, want %q", code, runbook.EInternal)
	}
	caller, stop := context.WithCancel(context.Background())
	stop()
	if err := failedIn(caller, expired, context.Canceled); runbook.ErrorCode(err) == runbook.EUnavailable {
		t.Errorf("a caller that gave up got %v, want its cancellation", err)
	}
}
