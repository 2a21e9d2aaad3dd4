package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// t0 has no monotonic reading and is in UTC, so it survives a JSON round
// trip unchanged.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

var (
	alice = runbook.User{Platform: "slack", ID: "U1", Person: "alice"}
	bob   = runbook.User{Platform: "slack", ID: "U2", Person: "bob"}
)

// dbPath returns a path for a store file in a fresh temporary folder.
func dbPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "shipmate.db")
}

// openAt opens the store at path and closes it when the test ends.
func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t testing.TB) *Store {
	t.Helper()
	return openAt(t, dbPath(t))
}

// reopen closes s and opens its file again.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openAt(t, s.Path())
}

// rawUpdate changes the closed store file at path with bbolt directly, to
// craft states the store's API would not produce.
func rawUpdate(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
}

// rawView reads the closed store file at path with bbolt directly.
func rawView(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond, ReadOnly: true})
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatalf("raw view: %v", err)
	}
}

func TestOpenCreatesFolderAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "nested", "shipmate.db")
	s := openAt(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("store file not created: %v", err)
	}
	if fi.Size() == 0 {
		t.Errorf("store file is empty")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("store file mode = %v, want no group/other access", perm)
	}
	if err := s.Ping(); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenRecordsSchemaAndBuckets(t *testing.T) {
	s := openTemp(t)
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawView(t, path, func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s not created", b)
			}
		}
		v := tx.Bucket(bMeta).Get(kSchema)
		if len(v) != 8 || binary.BigEndian.Uint64(v) != SchemaVersion {
			t.Errorf("meta/schema = %x, want %d as 8 big-endian bytes", v, SchemaVersion)
		}
		return nil
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)

	done := newRun("web", "prod", "v1")
	mustCreate(t, s, done, ev(runbook.EvRequested, "", ""))
	done.State, done.UpdatedAt = runbook.StateSucceeded, t0.Add(time.Hour)
	mustSave(t, s, done, ev(runbook.EvTransition, runbook.StateRequested, runbook.StateSucceeded))

	active := newRun("web", "staging", "v2")
	active.Checklist = []runbook.CheckItem{{Key: "notes", Label: "Release notes", Done: true, By: &bob, At: t0}}
	active.Approvals = []runbook.Approval{{By: bob, At: t0, Artifact: "sha256:abc"}}
	mustCreate(t, s, active, ev(runbook.EvRequested, "", ""))

	hold := runbook.Lock{App: "api", Env: "prod", Holder: bob, Reason: "freeze", Since: t0}
	if err := s.Hold(ctx, hold); err != nil {
		t.Fatal(err)
	}
	if first, err := s.Once(ctx, "delivery-1", time.Hour, t0); err != nil || !first {
		t.Fatalf("Once = %v, %v", first, err)
	}
	wantEvents, err := s.Events(ctx, done.ID)
	if err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s)

	for _, want := range []*runbook.Run{done, active} {
		got, err := s.Run(ctx, want.ID)
		if err != nil {
			t.Fatalf("Run(%d) after reopen: %v", want.ID, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Run(%d) after reopen (-want +got):\n%s", want.ID, d)
		}
	}
	gotEvents, err := s.Events(ctx, done.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantEvents, gotEvents); d != "" || len(gotEvents) != 2 {
		t.Errorf("Events after reopen (-want +got):\n%s", d)
	}
	if got := activeIDs(t, s); !cmp.Equal(got, []uint64{active.ID}) {
		t.Errorf("ActiveRuns after reopen = %v, want [%d]", got, active.ID)
	}
	locks, err := s.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantLocks := []runbook.Lock{hold, runLock(active)}
	if d := cmp.Diff(wantLocks, locks, ignoreReason); d != "" {
		t.Errorf("Locks after reopen (-want +got):\n%s", d)
	}
	dep, ok, err := s.Deployed(ctx, "web", "prod")
	if err != nil || !ok {
		t.Fatalf("Deployed after reopen = %v, %v", ok, err)
	}
	if want := (runbook.Deployed{Version: "v1", RunID: done.ID, At: done.UpdatedAt}); !cmp.Equal(dep, want) {
		t.Errorf("Deployed after reopen = %+v, want %+v", dep, want)
	}
	if first, err := s.Once(ctx, "delivery-1", time.Hour, t0.Add(time.Minute)); err != nil || first {
		t.Errorf("Once after reopen = %v, %v; want a duplicate", first, err)
	}
	// The sequence survives too: ids are never reused.
	next := newRun("web", "dev", "v3")
	mustCreate(t, s, next)
	if next.ID != active.ID+1 {
		t.Errorf("id after reopen = %d, want %d", next.ID, active.ID+1)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	s := openTemp(t)
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(kSchema, u64(99))
	})

	for _, opt := range []Options{{}, {ReadOnly: true}} {
		s2, err := Open(path, opt)
		if err == nil {
			_ = s2.Close()
			t.Fatalf("Open(%+v) of a schema 99 file succeeded", opt)
		}
		for _, want := range []string{path, "99", fmt.Sprint(SchemaVersion)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(%+v) error %q does not mention %q", opt, err, want)
			}
		}
	}
	// The refused Open neither rewrote the version nor kept the file locked.
	rawView(t, path, func(tx *bolt.Tx) error {
		if n := binary.BigEndian.Uint64(tx.Bucket(bMeta).Get(kSchema)); n != 99 {
			t.Errorf("schema after refused Open = %d, want 99 left alone", n)
		}
		return nil
	})
}

func TestOpenRejectsMalformedSchema(t *testing.T) {
	s := openTemp(t)
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(kSchema, []byte("x"))
	})
	for _, opt := range []Options{{}, {ReadOnly: true}} {
		// A damaged version must be an error, not a panic.
		s2, err := Open(path, opt)
		if err == nil {
			_ = s2.Close()
			t.Fatalf("Open(%+v) of a file with a malformed schema succeeded", opt)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%+v) error %q does not name the file", opt, err)
		}
	}
}

func TestReadOnlyOpenOfForeignFile(t *testing.T) {
	path := dbPath(t)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something-else"))
		return err
	})
	s, err := Open(path, Options{ReadOnly: true})
	if err == nil {
		_ = s.Close()
		t.Fatal("read-only Open of a bbolt file that is no Shipmate store succeeded")
	}
	if !strings.Contains(err.Error(), "not a Shipmate store") {
		t.Errorf("error = %q", err)
	}
}

func TestSecondOpenFailsWhileInUse(t *testing.T) {
	s := openTemp(t)
	for _, opt := range []Options{{Timeout: 200 * time.Millisecond}, {Timeout: 200 * time.Millisecond, ReadOnly: true}} {
		start := time.Now()
		s2, err := Open(s.Path(), opt)
		elapsed := time.Since(start)
		if err == nil {
			_ = s2.Close()
			t.Fatalf("second Open(%+v) succeeded while the store is open", opt)
		}
		if !errors.Is(err, ErrInUse) {
			t.Errorf("second Open(%+v) error = %v, want one wrapping ErrInUse", opt, err)
		}
		if !strings.Contains(err.Error(), s.Path()) {
			t.Errorf("second Open(%+v) error %q does not name the file", opt, err)
		}
		if elapsed > time.Second {
			t.Errorf("second Open(%+v) took %v with a 200ms timeout", opt, elapsed)
		}
	}
	// Once the holder closes, the file opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, s.Path())
}

func TestPruneIdempotencyRemovesOnlyExpiredKeys(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Enough keys to span many pages, interleaved so that every page holds
	// both kinds: deleting under a live cursor would skip some.
	// Recorded concurrently, as deliveries arrive (and faster than one by
	// one, each with its own fsync).
	const n = 5000
	var wg sync.WaitGroup
	for w := range 100 {
		wg.Go(func() {
			for i := w; i < n; i += 100 {
				ttl := time.Minute
				if i%2 == 1 {
					ttl = time.Hour
				}
				if first, err := s.Once(ctx, fmt.Sprintf("key-%05d", i), ttl, t0); err != nil || !first {
					t.Errorf("Once(key-%05d) = %v, %v", i, first, err)
				}
			}
		})
	}
	wg.Wait()

	removed, err := s.PruneIdempotency(t0.Add(2 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if removed != n/2 {
		t.Errorf("PruneIdempotency removed %d keys, want %d", removed, n/2)
	}
	var left []string
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bIdem).ForEach(func(k, _ []byte) error {
			left = append(left, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 1; i < n; i += 2 {
		want = append(want, fmt.Sprintf("key-%05d", i))
	}
	if d := cmp.Diff(want, left); d != "" {
		t.Errorf("keys left after prune (-want +got):\n%s", d)
	}

	if removed, err := s.PruneIdempotency(t0.Add(2 * time.Minute)); err != nil || removed != 0 {
		t.Errorf("second prune = %d, %v; want 0", removed, err)
	}
	if removed, err := s.PruneIdempotency(t0.Add(2 * time.Hour)); err != nil || removed != n/2 {
		t.Errorf("prune after every ttl = %d, %v; want %d", removed, err, n/2)
	}
}
