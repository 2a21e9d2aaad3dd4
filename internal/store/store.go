// Package store keeps Shipmate's state in an embedded bbolt file: runs, their
// append-only audit trail, locks, what is deployed where, and idempotency
// keys. It implements runbook.Store.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"shipmate/internal/runbook"
)

// SchemaVersion is the layout this code reads and writes. Version 2 added
// the index of succeeded versions.
const SchemaVersion = 2

var (
	bMeta      = []byte("meta")
	bRuns      = []byte("runs")        // id → Run JSON
	bEvents    = []byte("events")      // id ‖ seq → Event JSON
	bActive    = []byte("active")      // id → "" for runs not yet terminal
	bByApp     = []byte("by_app")      // app \0 id → env
	bByAppEnv  = []byte("by_app_env")  // app \0 env \0 id → ""
	bRunLocks  = []byte("run_locks")   // app \0 env → id of the active run
	bHolds     = []byte("holds")       // app \0 env → Lock JSON (app may be "all")
	bDeployed  = []byte("deployed")    // app \0 env → Deployed JSON
	bIdem      = []byte("idempotency") // key → expiry (unix nanoseconds)
	bSucceeded = []byte("succeeded")   // app \0 env \0 version → id of a deploy that succeeded
	bRunRefs   = []byte("run_refs")    // id ‖ name → a chat adapter's reference (a summary message)
	bOutbox    = []byte("outbox")      // seq → outboxRecord JSON, for the webhooks
	bCursors   = []byte("cursors")     // name → the outbox position an endpoint was given

	allBuckets = [][]byte{bMeta, bRuns, bEvents, bActive, bByApp, bByAppEnv, bRunLocks, bHolds, bDeployed, bIdem, bSucceeded, bRunRefs, bOutbox, bCursors}

	kSchema = []byte("schema")
)

// ErrInUse is returned by Open when another process holds the file.
var ErrInUse = errors.New("store is in use by another process")

// Store is a bbolt-backed runbook.Store.
type Store struct {
	// mu is held shared by every transaction and exclusively while
	// compaction swaps db for a rewritten file (compact.go).
	mu   sync.RWMutex
	db   *bolt.DB
	path string
	// commits shares transactions and fsyncs between concurrent writes.
	commits *groupCommit
	// outbox makes every change write its audit entries to the outbox.
	outbox bool
	// compaction says when the store rewrites itself (compact.go);
	// opened is what Open's rewrite did.
	compaction Compaction
	opened     CompactResult
	openErr    error
	closed     bool
}

var _ runbook.Store = (*Store)(nil)

// Options tune Open.
type Options struct {
	// Timeout bounds the wait for the file lock (default 1s).
	Timeout time.Duration
	// ReadOnly opens the file for reading only (a shared lock).
	ReadOnly bool
	// Outbox makes every change also write its audit entries to the
	// outbox, for the webhooks; without it the outbox does not grow.
	Outbox bool
	// Compaction says when the store rewrites itself without its free
	// pages (zero: DefaultCompaction).
	Compaction Compaction
}

// Open opens (creating it and its folder if needed) the store at path.
func Open(path string, opt Options) (*Store, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if !opt.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create folder: %w", err)
		}
	}
	db, err := openNamed(path, opt)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked (is another Shipmate running with this store?)", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, outbox: opt.Outbox, compaction: opt.Compaction}
	if s.compaction == (Compaction{}) {
		s.compaction = DefaultCompaction
	}
	s.commits = &groupCommit{update: s.update}
	if opt.ReadOnly {
		err = db.View(s.checkSchema)
	} else {
		err = db.Update(s.migrate)
	}
	if err == nil && !opt.ReadOnly {
		err = s.compactAtOpen()
	}
	if err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return s, nil
}

// compactAtOpen drops what an interrupted rewrite left, then rewrites a
// sparse store (up to MaxLiveAtOpen of live data): nothing waits on it
// yet. What it did, or why it did not, is for the caller to log
// (CompactedAtOpen); only a failure to drop the leftover fails Open.
func (s *Store) compactAtOpen() error {
	if target, err := filepath.EvalSymlinks(s.path); err == nil {
		if err := os.Remove(target + ".compact"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: %w", err)
		}
	}
	ok, free, live := sparse(s.db, s.compaction)
	switch {
	case !ok:
	case live > s.compaction.MaxLiveAtOpen:
		s.opened, s.openErr = CompactResult{FreePages: free}, s.tooLarge(free, live, "at start")
	default:
		s.opened, s.openErr = s.compactLocked()
	}
	return nil
}

// CompactedAtOpen says what Open's rewrite of a sparse store did (Done),
// or why a sparse store was left as it is.
func (s *Store) CompactedAtOpen() (CompactResult, error) { return s.opened, s.openErr }

// migrate creates missing buckets and brings the schema up to date.
func (s *Store) migrate(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("store: create bucket %s: %w", b, err)
		}
	}
	meta := tx.Bucket(bMeta)
	if v := meta.Get(kSchema); v != nil {
		n, err := s.schemaOf(v)
		if err != nil {
			return err
		}
		if n > SchemaVersion {
			return fmt.Errorf("store: %s was written by a newer Shipmate (schema %d, this one knows %d)", s.path, n, SchemaVersion)
		}
		// Migrations from older schemas, in order.
		if n < 2 {
			if err := indexSucceeded(tx); err != nil {
				return fmt.Errorf("store: migrate %s to schema 2: %w", s.path, err)
			}
		}
	}
	if err := meta.Put(kSchema, u64(SchemaVersion)); err != nil {
		return err
	}
	return repairIndexes(tx)
}

// indexSucceeded fills the index of succeeded versions from the runs
// (schema 1 stores had none). It reads the whole history once.
func indexSucceeded(tx *bolt.Tx) error {
	idx := tx.Bucket(bSucceeded)
	return tx.Bucket(bRuns).ForEach(func(k, v []byte) error {
		var r runbook.Run
		if err := decode(v, &r); err != nil {
			return err
		}
		if r.Action == runbook.ActionDeploy && r.State == runbook.StateSucceeded {
			return idx.Put(key(r.App, r.Env, r.Version), k)
		}
		return nil
	})
}

// repairIndexes drops active entries and run locks that point at finished
// or missing runs. SaveRun keeps them consistent, so this only matters for
// a file damaged outside Shipmate; it reads only the small indexes.
func repairIndexes(tx *bolt.Tx) error {
	runs := tx.Bucket(bRuns)
	finished := func(id []byte) bool {
		var r struct {
			State runbook.State `json:"state"`
		}
		ok, err := getJSON(runs, id, &r)
		return err == nil && (!ok || r.State.Terminal())
	}
	for _, name := range [][]byte{bActive, bRunLocks} {
		b := tx.Bucket(name)
		var stale [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			id := k
			if bytes.Equal(name, bRunLocks) {
				id = v
			}
			if finished(id) {
				stale = append(stale, k)
			}
			return nil
		})
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) checkSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		return fmt.Errorf("store: %s is not a Shipmate store", s.path)
	}
	n, err := s.schemaOf(meta.Get(kSchema))
	if err != nil {
		return err
	}
	if n != SchemaVersion {
		return fmt.Errorf("store: %s has schema %d, this Shipmate reads %d", s.path, n, SchemaVersion)
	}
	return nil
}

// schemaOf decodes a stored schema version. A missing or damaged one is an
// error: binary.BigEndian.Uint64 would panic on it at start-up.
func (s *Store) schemaOf(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("store: %s has a missing or damaged schema version (%q)", s.path, v)
	}
	return binary.BigEndian.Uint64(v), nil
}

// write commits fn with fsync. A write with no commit in flight commits at
// once; writes arriving during a commit share the next one (groupCommit).
// fn may run more than once (a group re-runs the others when one fails),
// so it must compute everything afresh from tx.
func (s *Store) write(fn func(tx *bolt.Tx) error) error {
	return s.commits.do(fn)
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.View(fn)
}

// update runs fn in a write transaction of its own, committed with fsync.
// Writes go through write (shared commits); update is for the few that
// must commit alone (a prune's steps, a migration, the group itself).
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.Update(fn)
}

// Close closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.db.Close()
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Where says where the store is (for the log): its file.
func (s *Store) Where() string { return s.path }

// Ping reports whether the store is open and readable (for /readyz).
func (s *Store) Ping() error {
	return s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta) == nil {
			return errors.New("store: not initialised")
		}
		return nil
	})
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

func key(parts ...string) []byte {
	var k []byte
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("store: decode key %x: %w", k, err)
	}
	return true, nil
}

// appendFill is the fill percent of buckets whose keys mostly grow at the
// end (runs, their events, the history indexes): pages split nearly full
// instead of half full, which halves the file for the same history.
const appendFill = 0.9

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store: decode: %w", err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}
