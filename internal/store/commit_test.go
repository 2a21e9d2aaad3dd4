package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bTest = []byte("test")

// openCommitter opens a bbolt file with a test bucket and its committer.
func openCommitter(t *testing.T) (*bolt.DB, *groupCommit) {
	t.Helper()
	db, err := bolt.Open(dbPath(t), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bTest); return err }); err != nil {
		t.Fatal(err)
	}
	return db, &groupCommit{update: db.Update}
}

// putKey is a write of k=v that records the transaction it ran in.
func putKey(k, v string, txs *sync.Map) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if txs != nil {
			txs.Store(k, tx.ID())
		}
		return tx.Bucket(bTest).Put([]byte(k), []byte(v))
	}
}

// queued waits until n writes wait behind the commit in flight.
func queued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		got := len(g.pending)
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued after 10s, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdFirst starts a write that stays inside its transaction until
// release is closed, so that the writes started meanwhile queue behind it.
func holdFirst(t *testing.T, g *groupCommit, release chan struct{}) <-chan error {
	entered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- g.do(func(tx *bolt.Tx) error {
			select {
			case <-entered:
			default:
				close(entered)
			}
			<-release
			return tx.Bucket(bTest).Put([]byte("first"), []byte("1"))
		})
	}()
	<-entered
	return done
}

func get(t *testing.T, db *bolt.DB, k string) string {
	t.Helper()
	var v []byte
	_ = db.View(func(tx *bolt.Tx) error { v = append(v, tx.Bucket(bTest).Get([]byte(k))...); return nil })
	return string(v)
}

// A lone write commits at once, in its own transaction; writes arriving
// during a commit all land, together in the next one.
func TestGroupCommitSharesTheNextCommit(t *testing.T) {
	db, g := openCommitter(t)
	var txs sync.Map
	if err := g.do(putKey("lone", "1", &txs)); err != nil {
		t.Fatal(err)
	}
	if get(t, db, "lone") != "1" {
		t.Fatal("a lone write is not visible once do returned")
	}
	release := make(chan struct{})
	first := holdFirst(t, g, release)
	const n = 50
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- g.do(putKey(fmt.Sprint("k", i), fmt.Sprint(i), &txs)) }()
	}
	queued(t, g, n)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ids := map[any]bool{}
	for i := range n {
		if v := get(t, db, fmt.Sprint("k", i)); v != fmt.Sprint(i) {
			t.Errorf("k%d = %q, want %d", i, v, i)
		}
		id, _ := txs.Load(fmt.Sprint("k", i))
		ids[id] = true
	}
	if len(ids) != 1 {
		t.Errorf("the %d queued writes took %d commits, want 1", n, len(ids))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy || len(g.pending) != 0 {
		t.Errorf("after the load: busy %v, %d pending; want idle", g.busy, len(g.pending))
	}
}

// A write that fails, or panics, gets its own error; the writes beside it
// in the group are committed, once each.
func TestGroupCommitFailureIsTheWritersOwn(t *testing.T) {
	db, g := openCommitter(t)
	release := make(chan struct{})
	first := holdFirst(t, g, release)
	errBoom := errors.New("boom")
	var mu sync.Mutex
	runs := map[string]int{}
	counted := func(k string, fn func(*bolt.Tx) error) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			mu.Lock()
			runs[k]++
			mu.Unlock()
			return fn(tx)
		}
	}
	writes := map[string]func(*bolt.Tx) error{
		"a": putKey("a", "1", nil),
		"fails": func(tx *bolt.Tx) error {
			if err := tx.Bucket(bTest).Put([]byte("fails"), []byte("written")); err != nil {
				return err
			}
			return errBoom
		},
		"b":      putKey("b", "2", nil),
		"panics": func(*bolt.Tx) error { panic("bad write") },
		"c":      putKey("c", "3", nil),
	}
	results := map[string]chan error{}
	for i, k := range []string{"a", "fails", "b", "panics", "c"} {
		results[k] = make(chan error, 1)
		go func() { results[k] <- g.do(counted(k, writes[k])) }()
		queued(t, g, i+1) // in this order
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-results["fails"]; !errors.Is(err, errBoom) {
		t.Errorf("the failing write got %v, want %v", err, errBoom)
	}
	if err := <-results["panics"]; err == nil {
		t.Error("the panicking write got no error")
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := <-results[k]; err != nil {
			t.Errorf("%s got %v", k, err)
		}
	}
	if v := get(t, db, "fails"); v != "" {
		t.Errorf("the failing write's put was kept: %q", v)
	}
	if a, b, c := get(t, db, "a"), get(t, db, "b"), get(t, db, "c"); a != "1" || b != "2" || c != "3" {
		t.Errorf("a, b, c = %q, %q, %q; want 1, 2, 3", a, b, c)
	}
	if runs["fails"] != 2 || runs["panics"] != 2 {
		t.Errorf("failing writes ran %d and %d times, want 2 (in the group, then alone)", runs["fails"], runs["panics"])
	}
}

// Writes of one group apply in the order they arrived, and a write that
// arrives after another returned sees it.
func TestGroupCommitOrderAndVisibility(t *testing.T) {
	db, g := openCommitter(t)
	release := make(chan struct{})
	first := holdFirst(t, g, release)
	errs := make(chan error, 10)
	for i := range 10 {
		go func() { errs <- g.do(putKey("k", fmt.Sprint(i), nil)) }()
		queued(t, g, i+1)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if v := get(t, db, "k"); v != "9" {
		t.Errorf("k = %q, want the last queued write's 9", v)
	}
	// Read-modify-write chains: each write sees every write that returned
	// before it started, so no increment is lost.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				err := g.do(func(tx *bolt.Tx) error {
					b := tx.Bucket(bTest)
					var n int
					_, _ = fmt.Sscan(string(b.Get([]byte("n"))), &n)
					return b.Put([]byte("n"), []byte(fmt.Sprint(n+1)))
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if v := get(t, db, "n"); v != "200" {
		t.Errorf("n = %q after 200 increments", v)
	}
}

// A closed file fails every queued write with its error: none waits forever.
func TestGroupCommitClosedFile(t *testing.T) {
	db, g := openCommitter(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.do(putKey("k", "v", nil)); err == nil {
		t.Error("a write to a closed file returned no error")
	}
}
