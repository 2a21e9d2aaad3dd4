package main

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fsyncRef is the cost of one small bbolt commit on the stores'
// filesystem: what "one fsync" means in the targets.
type fsyncRef struct {
	dir      string
	updates  int
	p50, p99 time.Duration
}

// measureFsync opens a scratch bbolt file in dir and times n updates that
// each put 100 bytes, one after the other, each committed and fsynced.
func measureFsync(dir string, n int) (fsyncRef, error) {
	ref := fsyncRef{dir: dir, updates: n}
	db, err := bolt.Open(filepath.Join(dir, "fsync.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return ref, err
	}
	defer db.Close()
	value := make([]byte, 100)
	took := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("bench"))
			if err != nil {
				return err
			}
			return b.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), value)
		})
		if err != nil {
			return ref, err
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	ref.p50, ref.p99 = quantile(took, 0.50), quantile(took, 0.99)
	return ref, nil
}
