package store

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"

	"shipmate/internal/runbook"
)

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
