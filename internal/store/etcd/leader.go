package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Leadership is one term of this replica as the leader: the replica that
// does the background work (running steps, firing timers) while the others
// only take commands. The term lasts while its etcd lease is kept alive;
// writes made with a context from Fence are refused once it is over.
type Leadership struct {
	s       *Store
	session *concurrency.Session
	f       fence
	resign  sync.Once
	err     error
	done    chan struct{}
}

// Campaign blocks until this replica is elected leader under the prefix's
// leader key, or ctx ends. name identifies the replica; Leader reports it
// to the others. ttl is how long the term outlives a replica that stopped
// answering (a paused process, a partition): rounded up to whole seconds,
// and etcd may lengthen it. An error other than ctx's means etcd refused
// or did not answer; the caller tries again later.
func (s *Store) Campaign(ctx context.Context, name string, ttl time.Duration) (*Leadership, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	gctx, cancel := s.bound(ctx)
	lease, err := s.c.Grant(gctx, max(secs, 1))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("store: campaign: %w", failed(ctx, err))
	}
	// The session keeps the lease alive beyond ctx, which only bounds the
	// wait for election.
	session, err := concurrency.NewSession(s.c, concurrency.WithLease(lease.ID), concurrency.WithTTL(int(lease.TTL)))
	if err != nil {
		_ = s.revoke(context.Background(), lease.ID)
		return nil, fmt.Errorf("store: campaign: %w", failed(ctx, err))
	}
	e := concurrency.NewElection(session, s.k.leader())
	won := make(chan error, 1)
	go func() { won <- e.Campaign(ctx, name) }()
	select {
	case err = <-won:
	case <-ctx.Done():
		// e.Campaign cleans up with the client's context, which waits for as
		// long as etcd does not answer; Campaign returns at once instead,
		// and the lease is revoked in the background.
		err = ctx.Err()
	}
	if err != nil {
		session.Orphan()
		go func() { _ = s.revoke(context.Background(), lease.ID) }()
		return nil, fmt.Errorf("store: campaign: %w", failed(ctx, err))
	}
	l := &Leadership{s: s, session: session, f: fence{e.Key(), e.Rev(), newLost()}, done: make(chan struct{})}
	go func() {
		select {
		case <-session.Done():
		case <-l.f.lost.ch:
		}
		close(l.done)
	}()
	return l, nil
}

// revoke ends a lease and so deletes the keys attached to it; a lease that
// already expired is no error.
func (s *Store) revoke(ctx context.Context, id clientv3.LeaseID) error {
	rctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.c.Revoke(rctx, id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return nil
	}
	return failed(ctx, err)
}

// Done is closed when the term ends: its lease expired or was revoked, the
// store was closed, the leader resigned, or a fenced write was refused
// (the lease expired before its keep-alive noticed). The leader then stops
// its background work; its fenced writes already fail.
func (l *Leadership) Done() <-chan struct{} { return l.done }

// Fence returns ctx carrying this term: every write of the store made with
// it requires the term to last, and fails with ErrDeposed, writing
// nothing, once it is over. A paused leader that wakes after its lease
// expired cannot overwrite the work of the next one.
func (l *Leadership) Fence(ctx context.Context) context.Context {
	return context.WithValue(ctx, fenceKey{}, l.f)
}

// Resign ends the term at once, so that another replica is elected now
// rather than when the lease would expire, and closes the session. Calling
// it again returns the first result.
func (l *Leadership) Resign(ctx context.Context) error {
	l.resign.Do(func() {
		l.f.lost.fire()
		l.session.Orphan()
		// Revoking the lease deletes the leader key with it.
		if err := l.s.revoke(ctx, l.session.Lease()); err != nil {
			l.err = fmt.Errorf("store: resign: %w", err)
		}
	})
	return l.err
}

// Key is the term's leader key in etcd.
func (l *Leadership) Key() string { return l.f.key }

// Rev is the revision at which the term's leader key was created.
func (l *Leadership) Rev() int64 { return l.f.rev }

// Leader returns the name of the current leader, or "" if there is none
// (for /readyz and the status of a replica).
func (s *Store) Leader(ctx context.Context) (string, error) {
	resp, err := s.get(ctx, s.k.leader()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("store: leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
