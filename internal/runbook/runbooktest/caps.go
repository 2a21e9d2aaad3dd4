package runbooktest

import (
	"context"

	"shipmate/internal/runbook"
)

// The capabilities, each a method of its own type so that a combination
// of them is a struct embedding those asked for: the engine finds a
// capability by type assertion, so an executor must lack the ones whose
// function field is nil.
type (
	rs struct{ x *Exec }
	vf struct{ x *Exec }
	hc struct{ x *Exec }
	ra struct{ x *Exec }
)

func (c rs) Resolve(ctx context.Context, j runbook.Job) (string, error) { return c.x.resolve(ctx, j) }
func (c vf) Verify(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	return c.x.verify(ctx, j, p)
}
func (c hc) Health(ctx context.Context, j runbook.Job) error { return c.x.health(ctx, j) }
func (c ra) Reattach(ctx context.Context, j runbook.Job, p runbook.Progress) error {
	return c.x.reattach(ctx, j, p)
}

// Executor returns x as an executor with the capabilities whose function
// field is set (ResolveFunc: runbook.Resolver, VerifyFunc: Verifier,
// HealthFunc: HealthChecker, ReattachFunc: Reattacher) and no others.
func (x *Exec) Executor() runbook.Executor {
	var caps int
	for i, set := range []bool{x.ResolveFunc != nil, x.VerifyFunc != nil, x.HealthFunc != nil, x.ReattachFunc != nil} {
		if set {
			caps |= 1 << i
		}
	}
	r, v, h, a := rs{x}, vf{x}, hc{x}, ra{x}
	switch caps {
	case 0:
		return x
	case 1:
		return struct {
			*Exec
			rs
		}{x, r}
	case 2:
		return struct {
			*Exec
			vf
		}{x, v}
	case 3:
		return struct {
			*Exec
			rs
			vf
		}{x, r, v}
	case 4:
		return struct {
			*Exec
			hc
		}{x, h}
	case 5:
		return struct {
			*Exec
			rs
			hc
		}{x, r, h}
	case 6:
		return struct {
			*Exec
			vf
			hc
		}{x, v, h}
	case 7:
		return struct {
			*Exec
			rs
			vf
			hc
		}{x, r, v, h}
	case 8:
		return struct {
			*Exec
			ra
		}{x, a}
	case 9:
		return struct {
			*Exec
			rs
			ra
		}{x, r, a}
	case 10:
		return struct {
			*Exec
			vf
			ra
		}{x, v, a}
	case 11:
		return struct {
			*Exec
			rs
			vf
			ra
		}{x, r, v, a}
	case 12:
		return struct {
			*Exec
			hc
			ra
		}{x, h, a}
	case 13:
		return struct {
			*Exec
			rs
			hc
			ra
		}{x, r, h, a}
	case 14:
		return struct {
			*Exec
			vf
			hc
			ra
		}{x, v, h, a}
	case 15:
		return struct {
			*Exec
			rs
			vf
			hc
			ra
		}{x, r, v, h, a}
	}
	panic("unreachable")
}
