package store

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// Upkeep says what the store drops, and how often it looks.
type Upkeep struct {
	// Every is how often the store drops what it no longer needs.
	Every time.Duration
	// Retention drops finished runs older than it with their trails (0:
	// keep all), except the newest Keep of each app and environment and
	// the run behind what runs now.
	Retention time.Duration
	Keep      int
	Now       func() time.Time
	Log       zerolog.Logger
}

// Pruner is a store that drops what it no longer needs: the bbolt store
// and the etcd one.
type Pruner interface {
	PruneIdempotency(now time.Time) (int, error)
	PruneRuns(ctx context.Context, cutoff time.Time, keep int) (int, error)
}

// RunUpkeep drops what the store s no longer needs — expired keys of chat
// deliveries (or the store would keep every click ever made) and runs past
// the retention — at once and then every u.Every, until ctx ends. A first
// prune of a long history takes seconds: run it beside the engine's ticks.
func RunUpkeep(ctx context.Context, s Pruner, u Upkeep) {
	if u.Now == nil {
		u.Now = time.Now
	}
	t := time.NewTicker(u.Every)
	defer t.Stop()
	for {
		upkeep(ctx, s, u)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func upkeep(ctx context.Context, s Pruner, u Upkeep) {
	n, err := s.PruneIdempotency(u.Now())
	if err != nil {
		u.Log.Warn().Err(err).Msg("store: drop expired delivery keys")
	} else {
		u.Log.Debug().Int("dropped", n).Msg("store: expired delivery keys dropped")
	}
	if u.Retention > 0 {
		n, err = s.PruneRuns(ctx, u.Now().Add(-u.Retention), u.Keep)
		if err != nil && ctx.Err() == nil {
			u.Log.Warn().Err(err).Msg("store: drop runs past the retention")
		}
		if n > 0 {
			u.Log.Info().Int("runs", n).Dur("retention", u.Retention).Msg("store: runs past the retention dropped with their trails")
		}
	}
	if c, ok := s.(Compacter); ok && ctx.Err() == nil {
		res, err := c.CompactIfSparse()
		LogCompaction(u.Log, res, err)
	}
}

// Compacter is a store that rewrites itself when freed space has made its
// commits heavy: the bbolt store (etcd compacts and defragments on its
// own terms).
type Compacter interface {
	CompactIfSparse() (CompactResult, error)
}

// LogCompaction logs what a rewrite did, or why it did not happen.
func LogCompaction(log zerolog.Logger, res CompactResult, err error) {
	if err != nil {
		log.Warn().Err(err).Int("free_pages", res.FreePages).Bool("compacted", res.Done).Msg("store: compaction")
		return
	}
	if res.Done {
		log.Info().Int("free_pages", res.FreePages).Int64("bytes_before", res.Before).Int64("bytes_after", res.After).
			Dur("took", res.Took).Msg("store: compacted (rewritten without its free pages)")
	}
}
