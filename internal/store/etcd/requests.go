package etcdstore

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"shipmate/internal/runbook"
)

// DefaultRequestTimeout bounds one request to etcd when the caller's
// context does not end sooner.
const DefaultRequestTimeout = 5 * time.Second

// errUnavailable is what a user is told when etcd does not answer.
var errUnavailable = runbook.Errorf(runbook.EUnavailable, "the store is unavailable; try again in a moment")

// unavailableError is a request that etcd did not answer (no quorum, no
// leader, unreachable, too slow). Chat adapters find the *runbook.Error in
// it and show its message; the log shows the cause as well.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string {
	return "store unavailable: etcd did not answer: " + e.cause.Error()
}

func (e *unavailableError) Unwrap() []error { return []error{errUnavailable, e.cause} }

// bound gives one request the store's timeout, unless ctx ends sooner:
// without it a request to an etcd that lost its quorum waits for ever.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.cfg.RequestTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// failed words the error of a request made for ctx. A caller that gave up
// gets its own context.Canceled back; a request etcd did not answer in
// time, or could not serve, becomes an *unavailableError.
func failed(ctx context.Context, err error) error {
	if err == nil || errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	if unanswered(err) {
		return &unavailableError{cause: err}
	}
	return err
}

// failedIn is failed for a request made with rctx, from bound(ctx): when
// rctx ran out of time the request went unanswered, whatever shape the
// error took on its way back (etcd 3.4 returns a server-side timeout as
// code Unknown, "context deadline exceeded").
func failedIn(ctx, rctx context.Context, err error) error {
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		if _, ok := err.(*unavailableError); !ok {
			return &unavailableError{cause: err}
		}
	}
	return failed(ctx, err)
}

// unanswered reports whether err means that etcd did not serve the request,
// rather than refused it.
func unanswered(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clientv3.ErrNoAvailableEndpoints) {
		return true
	}
	// The client turns the server's errors ("etcdserver: request timed
	// out", "etcdserver: no leader") into EtcdErrors that keep their code.
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.Unknown:
		// etcd 3.4 sends its own end of the request's time back as code
		// Unknown; the deadline it kept may end a moment before ours.
		return status.Convert(err).Message() == context.DeadlineExceeded.Error()
	}
	return false
}

// get is one bounded range read.
func (s *Store) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	rctx, cancel := s.bound(ctx)
	defer cancel()
	resp, err := s.c.Get(rctx, key, opts...)
	return resp, failedIn(ctx, rctx, err)
}

// read is one bounded transaction of reads, all at one revision.
func (s *Store) read(ctx context.Context, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	rctx, cancel := s.bound(ctx)
	defer cancel()
	resp, err := s.c.Txn(rctx).Then(ops...).Commit()
	return resp, failedIn(ctx, rctx, err)
}
