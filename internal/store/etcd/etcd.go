// Package etcdstore keeps Shipmate's state in etcd, so that several bots
// can share it: the same runs, trails, locks and indexes as the bbolt
// store, as JSON values under one key prefix. Every state change is one
// etcd transaction guarded by the revisions of the keys it read, so two
// bots (or two goroutines) never both win a run lock or a save.
package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"shipmate/internal/runbook"
)

// SchemaVersion is the key layout this code reads and writes.
const SchemaVersion = 1

// maxOps bounds the operations of one transaction, below etcd's default
// --max-txn-ops of 128.
const maxOps = 120

// Config says where the store is.
type Config struct {
	Endpoints []string
	// Prefix is where Shipmate's keys live ("/shipmate").
	Prefix      string
	DialTimeout time.Duration
	// RequestTimeout bounds each request to etcd whose context does not
	// end sooner (default DefaultRequestTimeout); past it the call fails
	// with an error whose runbook code is EUnavailable.
	RequestTimeout time.Duration
	TLS            *tls.Config
	Username       string
	Password       string
	// Outbox makes every change also write its audit entries to the
	// outbox, for the webhooks; without it the outbox does not grow.
	Outbox bool
}

// ParseURL reads a store URL, etcd://host1:2379,host2:2379/prefix. The
// prefix defaults to /shipmate.
func ParseURL(u string) (Config, error) {
	rest, ok := strings.CutPrefix(u, "etcd://")
	if !ok {
		return Config{}, fmt.Errorf("store %q: not an etcd:// URL", u)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	c := Config{Prefix: "/" + strings.Trim(path, "/")}
	if c.Prefix == "/" {
		c.Prefix = "/shipmate"
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			c.Endpoints = append(c.Endpoints, h)
		}
	}
	if len(c.Endpoints) == 0 {
		return Config{}, fmt.Errorf("store %q: no etcd endpoints", u)
	}
	return c, nil
}

// Store is an etcd-backed runbook.Store.
type Store struct {
	c   *clientv3.Client
	k   keys
	cfg Config
	// createMu makes this process's creates take turns for the run id
	// counter instead of all racing for it and retrying; creates from
	// other bots still race, and their transactions settle it.
	createMu sync.Mutex
	// lastSeq is the id counter as this process last wrote or read it
	// (under createMu).
	lastSeq *mvccpb.KeyValue
}

var _ runbook.Store = (*Store)(nil)

// Open connects to etcd and checks (or writes) the schema under the prefix.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/shipmate"
	}
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		eps[i] = e
		if !strings.Contains(e, "://") {
			eps[i] = scheme + e
		}
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: eps, DialTimeout: cfg.DialTimeout, TLS: cfg.TLS,
		Username: cfg.Username, Password: cfg.Password, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("store: etcd %v: %w", cfg.Endpoints, err)
	}
	s := &Store{c: c, k: keys{strings.TrimRight(cfg.Prefix, "/")}, cfg: cfg}
	octx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := s.checkSchema(octx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkSchema(ctx context.Context) error {
	k := s.k.schema()
	resp, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, strconv.Itoa(SchemaVersion))).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return fmt.Errorf("store: etcd %v under %s did not answer: %w", s.cfg.Endpoints, s.cfg.Prefix, err)
	}
	if resp.Succeeded {
		return nil
	}
	kv := kvOf(resp, 0)
	n, err := strconv.Atoi(string(kv.Value))
	if err != nil {
		return fmt.Errorf("store: etcd %s has a damaged schema version (%q)", s.cfg.Prefix, kv.Value)
	}
	if n > SchemaVersion {
		return fmt.Errorf("store: etcd %s was written by a newer Shipmate (schema %d, this one knows %d)", s.cfg.Prefix, n, SchemaVersion)
	}
	return nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.c.Close() }

// Where says which etcd and prefix the store uses (for the log).
func (s *Store) Where() string {
	return "etcd " + strings.Join(s.cfg.Endpoints, ",") + s.cfg.Prefix
}

// Ping reports whether etcd answers a read (for /readyz).
func (s *Store) Ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.get(ctx, s.k.schema(), clientv3.WithCountOnly())
	return err
}

// kvOf returns the first key of the i-th response of a transaction, or nil.
func kvOf(resp *clientv3.TxnResponse, i int) *mvccpb.KeyValue {
	if i >= len(resp.Responses) {
		return nil
	}
	r := resp.Responses[i].GetResponseRange()
	if r == nil || len(r.Kvs) == 0 {
		return nil
	}
	return r.Kvs[0]
}

// modRev returns kv's mod revision, 0 for a missing key: a compare on 0
// asks that the key still does not exist.
func modRev(kv *mvccpb.KeyValue) int64 {
	if kv == nil {
		return 0
	}
	return kv.ModRevision
}

// unchanged is the compare that the key k is as it was read.
func unchanged(k string, kv *mvccpb.KeyValue) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(k), "=", modRev(kv))
}

// rangeAll calls fn for every key under prefix, in key order, a page at a
// time.
func (s *Store) rangeAll(ctx context.Context, prefix string, fn func(kv *mvccpb.KeyValue) error, opts ...clientv3.OpOption) error {
	const page = 5000
	from, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	for {
		resp, err := s.get(ctx, from, append([]clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(page)}, opts...)...)
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

var errTooBig = errors.New("store: too many changes for one etcd transaction")
