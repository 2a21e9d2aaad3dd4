package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

// testCompaction rewrites small test stores: 64 free pages are enough.
var testCompaction = Compaction{MinFree: 64, MaxLive: 64 << 20, MaxLiveAtOpen: 64 << 20}

// contents is every key and value of every bucket, and each bucket's
// sequence (run ids and outbox positions come from them).
func contents(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[string(name)+" #seq"] = fmt.Sprint(b.Sequence())
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+" "+string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func freePages(s *Store) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return freeOf(s.db)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// sparseStore is a store at path whose first prune dropped most of a
// history of 1,500 realistic runs, leaving most of its file free. It
// returns the store, still open, with a lock held and a delivery key
// claimed.
func sparseStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Timeout: time.Second, Compaction: testCompaction})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	seedHistory(t, s, 1500, true)
	ctx := context.Background()
	if err := s.Hold(ctx, runbook.Lock{App: "api", Env: "prod", Reason: "freeze", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if first, err := s.Once(ctx, "slack:T1.claimed", time.Hour, time.Now()); err != nil || !first {
		t.Fatalf("Once = %v, %v", first, err)
	}
	n, err := s.PruneRuns(ctx, t0.AddDate(0, 0, 1), 2)
	if err != nil || n < 1000 {
		t.Fatalf("PruneRuns = %d, %v; want most of 1,500 runs", n, err)
	}
	return s
}

// After a first prune of a long history most of the file is free pages,
// which every commit would list anew. The store rewrites itself without
// them: the file shrinks, the freelist is short again, and nothing it
// held changes, down to the sequences new runs take their ids from.
func TestCompactRewritesASparseStore(t *testing.T) {
	path := dbPath(t)
	s := sparseStore(t, path)
	before, free, size := contents(t, s), freePages(s), fileSize(t, path)
	if free < testCompaction.MinFree {
		t.Fatalf("%d free pages after the prune; the test needs at least %d", free, testCompaction.MinFree)
	}

	res, err := s.CompactIfSparse()
	if err != nil || !res.Done {
		t.Fatalf("CompactIfSparse = %+v, %v; want a rewrite", res, err)
	}
	if res.Before != size || res.After >= size/2 {
		t.Errorf("file %d → %d bytes (result %+v); want it at least halved", size, fileSize(t, path), res)
	}
	if got := freePages(s); got >= testCompaction.MinFree {
		t.Errorf("%d free pages after the rewrite, want fewer than %d", got, testCompaction.MinFree)
	}
	if d := cmp.Diff(before, contents(t, s)); d != "" {
		t.Fatalf("the rewrite changed the store (-before +after):\n%s", d)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("the rewrite's file is left beside the store: %v", err)
	}

	// The store carries on in the new file, and what it writes there
	// stays after a reopen.
	ctx := context.Background()
	r := newRun("api", "dev", "v2")
	mustCreate(t, s, r, ev(runbook.EvRequested, "", ""))
	if seq := before["runs #seq"]; fmt.Sprint(r.ID-1) != seq {
		t.Errorf("new run id %d after the rewrite, want the one after %s", r.ID, seq)
	}
	if seen, err := s.Seen(ctx, "slack:T1.claimed", time.Now()); err != nil || !seen {
		t.Errorf("Seen(claimed key) = %v, %v after the rewrite", seen, err)
	}
	after := contents(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	if d := cmp.Diff(after, contents(t, s2)); d != "" {
		t.Fatalf("reopened store differs (-before close +after reopen):\n%s", d)
	}
	if l, ok, err := s2.HoldOf(ctx, "api", "prod"); err != nil || !ok || l.Reason != "freeze" {
		t.Errorf("HoldOf(api, prod) = %+v, %v, %v after the rewrite and a reopen", l, ok, err)
	}
}

// A store with few free pages is left as it is; one whose live data is too
// large to rewrite while the bot serves says so, and is left too.
func TestCompactLeavesWhatIsNotWorthIt(t *testing.T) {
	path := dbPath(t)
	s, err := Open(path, Options{Timeout: time.Second, Compaction: testCompaction})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seedHistory(t, s, 200, true)
	size := fileSize(t, path)
	if res, err := s.CompactIfSparse(); err != nil || res.Done {
		t.Errorf("CompactIfSparse on a store with %d free pages = %+v, %v; want nothing done", freePages(s), res, err)
	}

	big := sparseStore(t, dbPath(t))
	big.compaction.MaxLive = 1 << 10
	res, err := big.CompactIfSparse()
	if err == nil || res.Done {
		t.Fatalf("CompactIfSparse with live data over MaxLive = %+v, %v; want an error and nothing done", res, err)
	}
	t.Logf("refused as expected: %v", err)
	if fileSize(t, path) != size {
		t.Errorf("the file changed size")
	}

	// Too large to rewrite at start as well: Open leaves it, says why, and
	// names the command that rewrites it.
	bigPath := big.Path()
	bigSize := fileSize(t, bigPath)
	if err := big.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(bigPath, Options{Timeout: time.Second, Compaction: Compaction{MinFree: 64, MaxLive: 1, MaxLiveAtOpen: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if res, err := reopened.CompactedAtOpen(); res.Done || err == nil || !strings.Contains(err.Error(), "bot compact") {
		t.Errorf("CompactedAtOpen over MaxLiveAtOpen = %+v, %v; want nothing done and a word about bot compact", res, err)
	}
	if got := fileSize(t, bigPath); got != bigSize {
		t.Errorf("the file went from %d to %d bytes", bigSize, got)
	}
}

// Writes that arrive while the store rewrites itself wait for it and land
// in the new file: every write acknowledged is there after a reopen.
func TestCompactWhileWriting(t *testing.T) {
	path := dbPath(t)
	s := sparseStore(t, path)
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[string]bool{}
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("slack:writer%d.%d", w, i)
				first, err := s.Once(ctx, k, time.Hour, time.Now())
				if err != nil || !first {
					t.Errorf("Once(%s) = %v, %v", k, first, err)
					return
				}
				mu.Lock()
				acked[k] = true
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	<-progress // the writers are under way
	res, err := s.CompactIfSparse()
	for n := count(); count() <= n; {
		<-progress // and go on writing, in the new file
	}
	close(stop)
	wg.Wait()
	if err != nil || !res.Done {
		t.Fatalf("CompactIfSparse = %+v, %v", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	missing := 0
	for k := range maps.Keys(acked) {
		if seen, err := s2.Seen(ctx, k, time.Now()); err != nil || !seen {
			missing++
		}
	}
	if missing > 0 || len(acked) == 0 {
		t.Errorf("%d of %d acknowledged writes missing after the rewrite and a reopen", missing, len(acked))
	}
}

// Open rewrites a sparse store before anything waits on it, whatever its
// size, and drops the file an interrupted rewrite left behind.
func TestOpenCompactsASparseStore(t *testing.T) {
	path := dbPath(t)
	s := sparseStore(t, path)
	before, size := contents(t, s), fileSize(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".compact", []byte("half a rewrite"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{Timeout: time.Second, Compaction: Compaction{MinFree: 64, MaxLive: 1, MaxLiveAtOpen: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if res, err := s2.CompactedAtOpen(); err != nil || !res.Done || res.After >= size/2 {
		t.Errorf("CompactedAtOpen = %+v, %v; want the %d-byte file rewritten to less than half", res, err, size)
	}
	if d := cmp.Diff(before, contents(t, s2)); d != "" {
		t.Fatalf("the rewrite at open changed the store (-before +after):\n%s", d)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Errorf("the interrupted rewrite's file is still there: %v", err)
	}
}

// The hourly upkeep rewrites the store after the prune that freed most of
// it, and says so in the log.
func TestUpkeepCompactsAfterAFirstPrune(t *testing.T) {
	path := dbPath(t)
	s, err := Open(path, Options{Timeout: time.Second, Compaction: testCompaction})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seedHistory(t, s, 1500, true)
	size := fileSize(t, path)
	var logs bytes.Buffer
	upkeep(context.Background(), s, Upkeep{
		Retention: 24 * time.Hour, Keep: 2,
		Now: func() time.Time { return t0.AddDate(0, 0, 2) },
		Log: zerolog.New(&logs),
	})
	if got := fileSize(t, path); got >= size/2 {
		t.Errorf("file %d → %d bytes after the upkeep; want it at least halved", size, got)
	}
	for _, want := range []string{"runs past the retention dropped", "store: compacted"} {
		if !bytes.Contains(logs.Bytes(), []byte(want)) {
			t.Errorf("log does not say %q:\n%s", want, logs.String())
		}
	}
}

// descriptorsOf counts this process's open descriptors of the file at
// path.
func descriptorsOf(t *testing.T, path string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && target == path {
			n++
		}
	}
	return n
}

// A second Shipmate that opens the store while the first compacts it
// waits for the lock of the file it opened, which the compaction renames
// away and releases. It must not run on that copy: it opens the file now
// named, finds it locked, and is refused like any second instance.
func TestOpenDuringACompactionIsRefused(t *testing.T) {
	path := dbPath(t)
	s := sparseStore(t, path)
	second := make(chan error, 1)
	go func() {
		other, err := Open(path, Options{Timeout: 2 * time.Second})
		if err == nil {
			_ = other.Close()
		}
		second <- err
	}()
	for descriptorsOf(t, path) < 2 {
		runtime.Gosched() // until the second opener holds the file and waits for its lock
	}
	if res, err := s.CompactIfSparse(); err != nil || !res.Done {
		t.Fatalf("CompactIfSparse = %+v, %v", res, err)
	}
	if err := <-second; !errors.Is(err, ErrInUse) {
		t.Fatalf("a second Open during the compaction = %v, want ErrInUse", err)
	}
	// The first carries on in the file named path.
	ctx := context.Background()
	if err := s.SetRunRef(ctx, 1, "slack", "C1/1.2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := openAt(t, path).RunRef(ctx, 1, "slack"); err != nil || !ok || v != "C1/1.2" {
		t.Errorf("RunRef after a reopen = %q, %v, %v; want the write made after the compaction", v, ok, err)
	}
}
