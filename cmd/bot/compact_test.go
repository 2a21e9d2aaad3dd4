package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// bot compact rewrites a store that pruning left mostly free into a
// smaller file with the same contents, and refuses while the bot holds
// the store.
func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shipmate.db")
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	if err := st.Hold(ctx, runbook.Lock{App: "demo", Env: "production", Reason: "freeze", Since: now.UTC()}); err != nil {
		t.Fatal(err)
	}
	// 4,000 chat deliveries (from 8 clients at once, sharing commits),
	// then an hourly upkeep after they expired: their pages are free.
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if _, err := st.Once(ctx, fmt.Sprintf("slack:%d.%d.%s", c, i, strings.Repeat("x", 200)), time.Minute, now); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := st.PruneIdempotency(now.Add(time.Hour)); err != nil || n != 4000 {
		t.Fatalf("PruneIdempotency = %d, %v", n, err)
	}
	config := configWithStore(t, dir, db)

	// The bot holds the store: refused, and nothing changes: the same
	// file, of the same size, still the bot's to use.
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := call(t, nil, "compact", "--config", config)
	if code != exitFail || !strings.Contains(stderr, "stop the bot first") {
		t.Fatalf("bot compact beside a running bot: exit %d, %q; want %d and a word to stop the bot", code, stderr, exitFail)
	}
	if refused, err := os.Stat(db); err != nil || !os.SameFile(before, refused) || refused.Size() != before.Size() {
		t.Errorf("the refused bot compact changed the store file (%v)", err)
	}
	if _, err := os.Stat(db + ".compact"); !os.IsNotExist(err) {
		t.Errorf("the refused bot compact left a file beside the store: %v", err)
	}
	if err := st.SetRunRef(ctx, 1, "slack.summary", "C1/1.1"); err != nil {
		t.Errorf("the bot cannot write after a refused bot compact: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := call(t, nil, "compact", "--config", config)
	if code != exitOK || !strings.Contains(stdout, "free pages dropped") {
		t.Fatalf("bot compact: exit %d\n%s\n%s", code, stdout, stderr)
	}
	after, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() >= before.Size()/2 {
		t.Errorf("store %d → %d bytes (%s); want it at least halved", before.Size(), after.Size(), strings.TrimSpace(stdout))
	}
	st, err = store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if l, ok, err := st.HoldOf(ctx, "demo", "production"); err != nil || !ok || l.Reason != "freeze" {
		t.Errorf("HoldOf(demo, production) after bot compact = %+v, %v, %v", l, ok, err)
	}
	if v, ok, err := st.RunRef(ctx, 1, "slack.summary"); err != nil || !ok || v != "C1/1.1" {
		t.Errorf("RunRef after bot compact = %q, %v, %v; want the reference written before it", v, ok, err)
	}
}
