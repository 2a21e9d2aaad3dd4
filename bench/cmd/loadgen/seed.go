package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"shipmate/internal/runbook"
	"shipmate/internal/store"
)

// seededStore returns a bbolt file holding n finished runs, built once
// through the store's API and kept in cache (a folder of the temporary
// directory) for the next runs of the benchmark.
func seededStore(cache string, n int) (string, error) {
	path := filepath.Join(cache, fmt.Sprintf("runs-%d-schema%d.db", n, store.SchemaVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(cache, 0o750); err != nil {
		return "", err
	}
	tmp := path + ".building"
	_ = os.Remove(tmp)
	s, err := store.Open(tmp, store.Options{})
	if err != nil {
		return "", err
	}
	err = fill(s, n)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("seed %d runs: %w", n, err)
	}
	return path, os.Rename(tmp, path)
}

// fill stores n finished deploys of 50 apps in the three environments,
// each with the events of a short run, from many writers at once.
func fill(s *store.Store, n int) error {
	envs := []string{"development", "staging", "production"}
	ends := []runbook.State{runbook.StateSucceeded, runbook.StateSucceeded, runbook.StateFailed, runbook.StateRolledBack}
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	u := runbook.User{Platform: "slack", ID: benchUser, Person: "bench"}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				at := t0.Add(time.Duration(i) * time.Minute)
				r := &runbook.Run{
					Action: runbook.ActionDeploy, App: appName(i % 50), Env: envs[i%3], Version: fmt.Sprintf("v1.%d.0", i),
					Requester: u, Reason: "release", Origin: runbook.Origin{Platform: "slack", Channel: "C0BENCH"},
					State: ends[i%len(ends)], CreatedAt: at, UpdatedAt: at.Add(3 * time.Minute), FinishedAt: at.Add(3 * time.Minute),
					Log: []string{"deploying", "rollout: 3 of 3 updated replicas are available", "deployed"},
				}
				evs := []runbook.Event{
					{At: at, Type: runbook.EvRequested, Actor: &u},
					{At: at, Type: runbook.EvTransition, From: runbook.StateRequested, To: runbook.StateDeploying},
					{At: r.FinishedAt, Type: runbook.EvTransition, From: runbook.StateDeploying, To: r.State},
				}
				if err := s.CreateRun(context.Background(), r, evs...); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return nil
}

// copyFile copies the cached store to where a bot will open (and write) it.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	// On disk before the bot starts, as a store that has been in use is:
	// else the bot's first commit would also write out the whole copy.
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
