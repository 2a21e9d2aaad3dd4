package runbook

import (
	"context"
	"sync/atomic"
	"time"
)

// ErrDuplicateDelivery is what a store's write returns, storing nothing,
// when the chat delivery it is made for was already stored by an earlier
// write: the delivery is a platform's retry of one already acted on.
var ErrDuplicateDelivery = Errorf(EConflict, "that request was received already")

// Delivery is the chat delivery a command carries out: its dedupe key and
// how long the key is remembered. A store whose writes claim deliveries
// stores the key in the same transaction as the command's first write, so
// that the effect and the key commit together or not at all.
type Delivery struct {
	Key string
	TTL time.Duration
	// Now is when the delivery arrived: the key expires TTL after it.
	Now     time.Time
	claimed atomic.Bool
}

// Claimed reports whether a write has stored the delivery's key.
func (d *Delivery) Claimed() bool { return d != nil && d.claimed.Load() }

// MarkClaimed records that a committed write stored the key: the
// command's later writes are its own and claim nothing.
func (d *Delivery) MarkClaimed() { d.claimed.Store(true) }

type deliveryKey struct{}

// WithDelivery returns ctx carrying the delivery with this key, for the
// store's writes to claim. Background work started by a command runs on a
// context of its own and never carries it.
func WithDelivery(ctx context.Context, key string, ttl time.Duration, now time.Time) context.Context {
	return context.WithValue(ctx, deliveryKey{}, &Delivery{Key: key, TTL: ttl, Now: now})
}

// DeliveryOf returns the delivery ctx carries, or nil.
func DeliveryOf(ctx context.Context) *Delivery {
	d, _ := ctx.Value(deliveryKey{}).(*Delivery)
	return d
}

// Unclaimed returns the delivery ctx carries whose key no write has
// stored yet, or nil: what a write is to claim.
func Unclaimed(ctx context.Context) *Delivery {
	if d := DeliveryOf(ctx); d != nil && !d.Claimed() {
		return d
	}
	return nil
}
