package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"shipmate/internal/store"
	"shipmate/internal/store/etcd/etcdtest"
	"shipmate/internal/store/storetest"
)

// migrateWithin bounds one bot migrate of the sample store.
const migrateWithin = time.Minute

// sampleStore makes a bbolt store file at path holding storetest's
// sample history, and returns what a user would count in it: the summary
// bot migrate should print, and the store's answers.
func sampleStore(t *testing.T, path string) (string, storetest.Sample, storetest.Answers) {
	t.Helper()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sm := storetest.FillSample(t, s)
	a := storetest.Ask(t, s, sm)
	runs, events, holds := 0, 0, 0
	for _, rec := range a.Records {
		if rec != nil {
			runs++
			events += len(rec.Events)
		}
	}
	for _, l := range a.Locks {
		if l.RunID == 0 {
			holds++
		}
	}
	summary := fmt.Sprintf("copied %d runs, %d events, %d holds, %d deployed versions; checked: identical\n", runs, events, holds, len(a.Deployed))
	return summary, sm, a
}

// An operator moves a bot's store from its file to etcd, and (say, to go
// back to one replica) from etcd to a new file: each time bot migrate
// prints what it copied and that the check found both stores identical,
// and the file at the end answers as the first did. Migrating again into
// the etcd prefix, which now holds runs, is refused.
func TestMigrateBboltToEtcdAndBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, back := filepath.Join(dir, "shipmate.db"), filepath.Join(dir, "back", "shipmate.db")
	summary, sm, want := sampleStore(t, src)
	etcd := "etcd://" + strings.TrimPrefix(etcdtest.Start(t), "http://") + "/shipmate"

	for _, step := range [][2]string{{src, etcd}, {etcd, back}} {
		res := runOnce(t, dir, migrateWithin, "migrate", "--from", step[0], "--to", step[1])
		if res.code != 0 || res.stdout != summary {
			t.Fatalf("bot migrate --from %s --to %s = exit %d\nstdout: %q\nwant:   %q\nstderr: %s", step[0], step[1], res.code, res.stdout, summary, res.stderr)
		}
	}
	s, err := store.Open(back, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.Ask(t, s, sm)
	_ = s.Close()
	if d := cmp.Diff(want, got, storetest.IgnoreRev); d != "" {
		t.Errorf("the store migrated there and back answers differently (-before +after):\n%s", d)
	}

	res := runOnce(t, dir, migrateWithin, "migrate", "--from", src, "--to", etcd)
	if res.code != 1 || !strings.Contains(res.stderr, "/shipmate is not empty: it holds") ||
		!strings.Contains(res.stderr, "copies into an empty store only") {
		t.Errorf("bot migrate into a prefix that holds runs = exit %d, stderr %q; want 1 and a refusal", res.code, res.stderr)
	}
}

// bot migrate refuses to copy a file a running bot holds (it would go on
// changing it behind the copy), says so, and creates no destination.
func TestMigrateRefusesAStoreHeldByARunningBot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "shipmate.db"), filepath.Join(dir, "copy.db")
	held, err := store.Open(src, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	res := runOnce(t, dir, migrateWithin, "migrate", "--from", src, "--to", dst)
	if res.code != 1 || !strings.Contains(res.stderr, src+" is locked by a running Shipmate: stop the bot before migrating") {
		t.Errorf("bot migrate from a held store = exit %d, stderr %q; want 1 and the bot named", res.code, res.stderr)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("the destination was created (%v)", err)
	}
	res = runOnce(t, dir, migrateWithin, "migrate", "--from", dst, "--to", src)
	if res.code != 1 || !strings.Contains(res.stderr, "there is no store at "+dst) {
		t.Errorf("bot migrate from a missing file = exit %d, stderr %q", res.code, res.stderr)
	}
	res = runOnce(t, dir, migrateWithin, "migrate", "--from", src)
	if res.code != 2 || !strings.Contains(res.stderr, "usage: bot migrate --from SRC --to DST") {
		t.Errorf("bot migrate without --to = exit %d, stderr %q; want 2 and the usage", res.code, res.stderr)
	}
}
