package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"shipmate/internal/config"
	"shipmate/internal/store"
	"shipmate/internal/store/dump"
	etcdstore "shipmate/internal/store/etcd"
)

// migrateHelp is bot migrate's help, before its usage.
const migrateHelp = `Copies a whole Shipmate store into an empty one, then reads both back and
compares them run for run. SRC and DST are each a bbolt file (such as
data/shipmate.db) or an etcd URL (etcd://host1:2379,host2:2379/prefix);
either way round works.

Stop every bot that uses either store first: what a bot writes during the
copy would be missed. A bbolt file held by a running bot is refused; etcd
cannot tell, so stop the bots that share it yourself.

Copied: every run with its id and whole trail, the run counter (new runs
get ids above the copied ones), the chat references of each run, holds,
what is deployed where and which versions succeeded where. Not copied: the
keys that drop a chat platform's repeated deliveries, which matter for
minutes only.

The destination must be empty: a bbolt file that does not exist yet (it
is created) or holds nothing, or an etcd prefix with nothing under it.
etcd's credentials are read from SHIPMATE_ETCD_USERNAME and
SHIPMATE_ETCD_PASSWORD when they are set.`

// migrateStore is what bot migrate uses of each store.
type migrateStore interface {
	dump.Store
	dump.Loader
	Close() error
}

// migrateUsage is bot migrate's usage line.
const migrateUsage = "usage: bot migrate --from SRC --to DST (bot migrate -h says more)"

// migrateCommand runs bot migrate --from from --to to.
func migrateCommand(from, to string, stdout, stderr io.Writer) int {
	if from == "" || to == "" {
		fmt.Fprintln(stderr, migrateUsage)
		return exitConfig
	}
	// Interrupting stops the copy between two transactions.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	summary, err := migrate(ctx, from, to, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "shipmate: migrate: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, summary)
	return exitOK
}

// migrate copies the store at from into the empty store at to, checks
// the copy and returns the summary line. It tells progress every
// progressEvery runs, for a large store takes minutes.
func migrate(ctx context.Context, from, to string, progress io.Writer) (string, error) {
	if sameStore(from, to) {
		return "", errors.New("--from and --to name the same store")
	}
	src, err := openForMigrate(ctx, from, true)
	if err != nil {
		return "", fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	dst, err := openForMigrate(ctx, to, false)
	if err != nil {
		return "", fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()

	rep := &reporter{migrateStore: src, w: progress, doing: "copied", start: time.Now()}
	n, err := dump.Copy(ctx, rep, dst)
	var notEmpty *dump.NotEmptyError
	if errors.As(err, &notEmpty) {
		return "", fmt.Errorf("--to: %w; bot migrate copies into an empty store only", err)
	}
	if err != nil {
		return "", fmt.Errorf("the copy stopped: %w\n%s now holds part of the copy: %s before trying again", err, to, howToEmpty(to))
	}
	fmt.Fprintf(progress, "shipmate: migrate: copied %d runs in %s; checking\n", n.Runs, time.Since(rep.start).Round(time.Second))
	rep.doing, rep.runs, rep.start = "checked", 0, time.Now()
	if _, err := dump.Check(ctx, rep, dst); err != nil {
		return "", fmt.Errorf("copied %s, but checking the copy failed: %w\nstart no bot on %s before finding out why", n, err, to)
	}
	return fmt.Sprintf("copied %s; checked: identical", n), nil
}

// progressEvery is how many runs go between two progress lines.
const progressEvery = 10000

// reporter is the source store, telling progress as its runs are read.
type reporter struct {
	migrateStore
	w     io.Writer
	doing string
	runs  int
	start time.Time
}

// Dump streams the source, telling every progressEvery runs how far it
// got.
func (r *reporter) Dump(ctx context.Context, fn func(dump.Item) error) error {
	return r.migrateStore.Dump(ctx, func(it dump.Item) error {
		if _, ok := it.(dump.Run); ok {
			if r.runs++; r.runs%progressEvery == 0 {
				fmt.Fprintf(r.w, "shipmate: migrate: %s %d runs (%s)\n", r.doing, r.runs, time.Since(r.start).Round(time.Second))
			}
		}
		return fn(it)
	})
}

// openForMigrate opens the store spec names: a bbolt source read-only, so
// that a running bot's lock on it is seen.
func openForMigrate(ctx context.Context, spec string, source bool) (migrateStore, error) {
	if isEtcd(spec) {
		cfg, err := etcdstore.ParseURL(spec)
		if err != nil {
			return nil, err
		}
		cfg.Username, cfg.Password = os.Getenv(config.EnvEtcdUsername), os.Getenv(config.EnvEtcdPassword)
		return etcdstore.Open(ctx, cfg)
	}
	if _, err := os.Stat(spec); source && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("there is no store at %s", spec)
	}
	s, err := store.Open(spec, store.Options{ReadOnly: source, Timeout: time.Second})
	if errors.Is(err, store.ErrInUse) {
		return nil, fmt.Errorf("%s is locked by a running Shipmate: stop the bot before migrating (it would go on changing the store behind the copy)", spec)
	}
	return s, err
}

// sameStore reports whether from and to name one store: one file, or one
// prefix on the same etcd endpoints.
func sameStore(from, to string) bool {
	if isEtcd(from) != isEtcd(to) {
		return false
	}
	if isEtcd(from) {
		a, errA := etcdstore.ParseURL(from)
		b, errB := etcdstore.ParseURL(to)
		slices.Sort(a.Endpoints)
		slices.Sort(b.Endpoints)
		return errA == nil && errB == nil && a.Prefix == b.Prefix && slices.Equal(a.Endpoints, b.Endpoints)
	}
	fa, errA := os.Stat(from)
	fb, errB := os.Stat(to)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	return filepath.Clean(from) == filepath.Clean(to)
}

// howToEmpty says how to empty the store spec names.
func howToEmpty(spec string) string {
	if !isEtcd(spec) {
		return "delete " + spec
	}
	if cfg, err := etcdstore.ParseURL(spec); err == nil {
		return fmt.Sprintf("empty it with `etcdctl --endpoints %s del --prefix %s/`", strings.Join(cfg.Endpoints, ","), cfg.Prefix)
	}
	return "empty its prefix"
}
