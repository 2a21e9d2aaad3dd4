package store

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

func TestSucceededIndex(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	ok := func(app, env, version string) bool {
		t.Helper()
		got, err := s.Succeeded(ctx, app, env, version)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	r := newRun("web", "staging", "v1")
	mustCreate(t, s, r)
	r.State = runbook.StateMonitoring
	if err := s.SaveRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ok("web", "staging", "v1") {
		t.Fatal("a run still monitoring counts as succeeded")
	}
	r.State = runbook.StateSucceeded
	if err := s.SaveRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !ok("web", "staging", "v1") || ok("web", "staging", "v2") || ok("web", "production", "v1") || ok("web-api", "staging", "v1") {
		t.Fatal("the index answers for other versions, environments or apps")
	}
	failed := newRun("web", "staging", "v2")
	mustCreate(t, s, failed)
	failed.State = runbook.StateRolledBack
	if err := s.SaveRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if ok("web", "staging", "v2") {
		t.Fatal("a rolled-back deploy counts as succeeded")
	}
}

// A schema 1 store had no index: opening it fills the index from history.
func TestMigrationToSchema2IndexesSucceededRuns(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	done := newRun("web", "staging", "v1")
	mustCreate(t, s, done)
	done.State = runbook.StateSucceeded
	if err := s.SaveRun(ctx, done); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bSucceeded); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kSchema, u64(1))
	})
	s = openAt(t, path)
	if got, err := s.Succeeded(ctx, "web", "staging", "v1"); err != nil || !got {
		t.Fatalf("after migrating a schema 1 file: Succeeded = %v, %v", got, err)
	}
}
