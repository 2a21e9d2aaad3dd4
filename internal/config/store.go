package config

import (
	"strings"
	"time"
)

// The environment variables that hold the etcd store's credentials. They
// are read from the environment only, never from the file, so that the
// password is in no configuration that gets copied around.
const (
	EnvEtcdUsername = "SHIPMATE_ETCD_USERNAME"
	EnvEtcdPassword = "SHIPMATE_ETCD_PASSWORD"
)

// DefaultLeaderLease is leader_lease when not set.
const DefaultLeaderLease = 10 * time.Second

// etcdScheme starts a store URL that names etcd rather than a bbolt file.
const etcdScheme = "etcd://"

// StoreTLS names the PEM files of a TLS connection to etcd, as written:
// a relative path is relative to the working directory, as store's is.
type StoreTLS struct {
	// CA is the authority that signed etcd's certificate ("": the
	// system's).
	CA string
	// Cert and Key are the client certificate etcd asks for with
	// --client-cert-auth, and its key ("": none).
	Cert string
	Key  string
}

type rawStoreTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// StoreIsEtcd reports whether Store is an etcd:// URL rather than a bbolt
// file.
func (c *Config) StoreIsEtcd() bool { return strings.HasPrefix(c.Store, etcdScheme) }

// buildStore checks how the store is reached: TLS and credentials are for
// an etcd store only.
func buildStore(d *decoder, raw *rawConfig, c *Config) error {
	if t := raw.StoreTLS; t != nil {
		switch {
		case !c.StoreIsEtcd():
			return d.errorf("store_tls", "only for an etcd store (store: etcd://host:2379/prefix), not the file %q", c.Store)
		case t.CA == "" && t.Cert == "" && t.Key == "":
			return d.errorf("store_tls", "give ca, or cert and key, or all three")
		case t.Cert != "" && t.Key == "":
			return d.errorf("store_tls", "key is required with cert")
		case t.Key != "" && t.Cert == "":
			return d.errorf("store_tls", "cert is required with key")
		}
		c.StoreTLS = &StoreTLS{CA: t.CA, Cert: t.Cert, Key: t.Key}
	}
	if raw.LeaderLease != 0 && !c.StoreIsEtcd() {
		return d.errorf("leader_lease", "only for an etcd store, where replicas elect a leader; a bbolt store has one bot")
	}
	if !c.StoreIsEtcd() {
		return nil
	}
	c.LeaderLease = raw.LeaderLease
	switch {
	case c.LeaderLease == 0:
		c.LeaderLease = DefaultLeaderLease
	case c.LeaderLease < 2*time.Second:
		return d.errorf("leader_lease", "want at least 2s (etcd's shortest lease), got %s", c.LeaderLease)
	}
	user, _ := d.lookup(EnvEtcdUsername)
	pass, _ := d.lookup(EnvEtcdPassword)
	switch {
	case user != "" && pass == "":
		return d.errorf("store", "%s is set but %s is not; etcd needs both", EnvEtcdUsername, EnvEtcdPassword)
	case pass != "" && user == "":
		return d.errorf("store", "%s is set but %s is not; etcd needs both", EnvEtcdPassword, EnvEtcdUsername)
	}
	c.StoreUsername, c.StorePassword = user, pass
	return nil
}
