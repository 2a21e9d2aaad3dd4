package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// bbolt never gives a freed page back to the file system: it lists it in
// its freelist, and every commit writes the whole freelist anew. After a
// first retention prune of a long history (98,800 of 100,000 runs dropped,
// 191,000 pages freed) that is 1.5 MB written with every lock, tick and
// approval, and a commit that took 0.4 ms takes 3 ms
// (BenchmarkCommitAfterFirstPrune). Steady pruning frees about what new
// runs take, so the freelist stays short; a large one only follows a first
// prune or a shorter retention. Then the store rewrites itself into a
// fresh file holding only its live data (compaction).

// Compaction says when the store rewrites itself.
type Compaction struct {
	// MinFree is the least number of free pages worth a rewrite: below
	// it the freelist a commit writes is short (8,192 pages: 64 KiB of
	// freelist, 32 MiB of file).
	MinFree int
	// MaxLive bounds the live data rewritten while the bot runs: reads
	// and writes wait for the rewrite (16 MiB of runs take half a second
	// here). A larger store is rewritten at its next start instead,
	// before the bot serves.
	MaxLive int64
	// MaxLiveAtOpen bounds the live data Open rewrites, so that a start
	// stays within what a supervisor waits for (a Kubernetes startup
	// probe, say). A larger store is left as it is, and says so.
	MaxLiveAtOpen int64
}

// DefaultCompaction is the policy of a store opened without one.
var DefaultCompaction = Compaction{MinFree: 8192, MaxLive: 32 << 20, MaxLiveAtOpen: 256 << 20}

// CompactResult says what a rewrite did.
type CompactResult struct {
	Done          bool  // the file was rewritten
	FreePages     int   // free pages before
	Before, After int64 // file sizes in bytes
	Took          time.Duration
}

// compactTxSize bounds each of the rewrite's transactions.
const compactTxSize = 16 << 20

// sparse reports whether db's freelist is worth a rewrite under c: it
// holds at least c.MinFree pages and at least as many pages as the live
// data does. It returns the free pages and the live data's size.
func sparse(db *bolt.DB, c Compaction) (bool, int, int64) {
	free := freeOf(db)
	var size int64
	_ = db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	live := size - int64(free)*int64(db.Info().PageSize)
	return free >= c.MinFree && int64(free)*int64(db.Info().PageSize) >= live, free, live
}

// freeOf is how many pages db's freelist holds.
func freeOf(db *bolt.DB) int {
	st := db.Stats()
	return st.FreePageN + st.PendingPageN
}

// CompactIfSparse rewrites the store when its freelist is worth it (see
// Compaction) and its live data is small enough to rewrite while the bot
// runs. A store too large for that reports it in the error, and is
// rewritten by its next Open.
func (s *Store) CompactIfSparse() (CompactResult, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return CompactResult{}, errClosed
	}
	ok, free, live := sparse(s.db, s.compaction)
	s.mu.RUnlock()
	if !ok {
		return CompactResult{FreePages: free}, nil
	}
	if live > s.compaction.MaxLive {
		return CompactResult{FreePages: free}, s.tooLarge(free, live, "while serving")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return CompactResult{}, errClosed
	}
	if ok, free, _ := sparse(s.db, s.compaction); !ok {
		return CompactResult{FreePages: free}, nil // rewritten meanwhile
	}
	return s.compactLocked()
}

// Compact rewrites the store without its free pages, whatever their
// number and whatever its size (bot compact). Reads and writes wait for it.
func (s *Store) Compact() (CompactResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return CompactResult{}, errClosed
	}
	return s.compactLocked()
}

// errClosed is what compacting a closed store returns.
var errClosed = errors.New("store: closed")

// tooLarge says a sparse store is left as it is, and what that costs.
func (s *Store) tooLarge(free int, live int64, when string) error {
	next := "it is rewritten at the next start"
	if live > s.compaction.MaxLiveAtOpen {
		next = "stop the bot and run `bot compact` to make its commits light again"
	}
	return fmt.Errorf("store: %s has %d free pages, which every commit lists, but %d MiB of live data, too much to rewrite %s; %s",
		s.path, free, live>>20, when, next)
}

// compactLocked rewrites the store into path.compact and puts that file
// in its place, then carries on in it. s.mu must be held exclusively: no
// transaction runs meanwhile. The new file is complete and on disk before
// it is renamed over the old one, and it is locked from the moment it is
// created, so a crash leaves either file whole and no other process can
// open the new one between the rename and its use.
func (s *Store) compactLocked() (CompactResult, error) {
	began := time.Now()
	res := CompactResult{FreePages: freeOf(s.db)}
	// Rewrite the file itself, not a symbolic link to it, with its
	// permissions.
	target, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	res.Before = st.Size()
	tmp := target + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	dst, err := bolt.Open(tmp, st.Mode().Perm(), &bolt.Options{Timeout: time.Second})
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	fail := func(err error) (CompactResult, error) {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return res, fmt.Errorf("store: compact %s: %w", s.path, err)
	}
	// Each of the rewrite's commits is fsynced, as every commit is, so the
	// new file is on disk when Compact returns.
	if err := bolt.Compact(dst, s.db, compactTxSize); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fail(err)
	}
	// From here on the new file is the store, whatever else fails.
	s.swap(dst)
	res.Done, res.Took = true, time.Since(began)
	if st, err := os.Stat(target); err == nil {
		res.After = st.Size()
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return res, fmt.Errorf("store: compacted %s, but the rename may not survive a crash: sync folder: %w", s.path, err)
	}
	return res, nil
}

// swap makes db the store's file and closes the old one.
func (s *Store) swap(db *bolt.DB) {
	old := s.db
	s.db = db
	_ = old.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openNamed opens the bbolt file at path and makes sure that the file it
// locked is still the one named path. A process that waited for the lock
// while the holder compacted the store would otherwise get the lock of
// the old file, renamed away, and run beside the holder on a copy nobody
// reads again: it opens the new file instead (and waits for its lock).
func openNamed(path string, opt Options) (*bolt.DB, error) {
	deadline := time.Now().Add(opt.Timeout)
	for {
		var f *os.File
		db, err := bolt.Open(path, 0o600, &bolt.Options{
			Timeout:  time.Until(deadline),
			ReadOnly: opt.ReadOnly,
			OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
				var err error
				f, err = os.OpenFile(name, flag, mode)
				return f, err
			},
		})
		if err != nil {
			return nil, err
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return db, nil
		}
		_ = db.Close()
		if time.Now().After(deadline) {
			return nil, bolterrors.ErrTimeout
		}
	}
}
