package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vars looks variables up in m.
func vars(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// An etcd store takes its TLS files from store_tls and its credentials
// from the environment.
func TestEtcdStore(t *testing.T) {
	text := "store: etcd://10.0.0.1:2379,10.0.0.2:2379/shipmate\n" +
		"store_tls: {ca: /etc/shipmate/ca.pem, cert: /etc/shipmate/client.pem, key: \"${TLS_KEY}\"}\n" + valid
	c, err := Parse([]byte(text), vars(map[string]string{
		"TLS_KEY":       "/run/secrets/client-key.pem",
		EnvEtcdUsername: "shipmate",
		EnvEtcdPassword: "s3cret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.StoreIsEtcd() {
		t.Errorf("StoreIsEtcd() = false for %q", c.Store)
	}
	want := &StoreTLS{CA: "/etc/shipmate/ca.pem", Cert: "/etc/shipmate/client.pem", Key: "/run/secrets/client-key.pem"}
	if d := cmp.Diff(want, c.StoreTLS); d != "" {
		t.Errorf("StoreTLS (-want +got):\n%s", d)
	}
	if c.StoreUsername != "shipmate" || c.StorePassword != "s3cret" {
		t.Errorf("credentials = %q, %q; want them from the environment", c.StoreUsername, c.StorePassword)
	}

	if c.LeaderLease != DefaultLeaderLease {
		t.Errorf("leader lease %s, want the default %s", c.LeaderLease, DefaultLeaderLease)
	}

	// Without store_tls or credentials, a plain connection.
	c, err = Parse([]byte("store: etcd://10.0.0.1:2379\n"+valid), noVars)
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreTLS != nil || c.StoreUsername != "" || c.StorePassword != "" {
		t.Errorf("plain etcd store: StoreTLS %+v, username %q, password set %v", c.StoreTLS, c.StoreUsername, c.StorePassword != "")
	}
}

// A bbolt store has no credentials, whatever the environment holds.
func TestBboltStoreIgnoresEtcdCredentials(t *testing.T) {
	c, err := Parse([]byte(valid), vars(map[string]string{EnvEtcdUsername: "shipmate", EnvEtcdPassword: "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreIsEtcd() || c.StoreUsername != "" || c.StorePassword != "" {
		t.Errorf("store %q: etcd %v, username %q", c.Store, c.StoreIsEtcd(), c.StoreUsername)
	}
}

func TestEtcdStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		head string // lines before valid
		env  map[string]string
		want string
	}{
		{"store_tls with the default bbolt store", "store_tls: {ca: ca.pem}\n", nil,
			`store_tls: only for an etcd store (store: etcd://host:2379/prefix), not the file "data/shipmate.db" (line 1)`},
		{"store_tls with a bbolt file", "store: /var/lib/shipmate.db\nstore_tls: {ca: ca.pem}\n", nil,
			`store_tls: only for an etcd store (store: etcd://host:2379/prefix), not the file "/var/lib/shipmate.db" (line 2)`},
		{"empty store_tls", "store: etcd://e:2379\nstore_tls: {}\n", nil,
			`store_tls: give ca, or cert and key, or all three (line 2)`},
		{"cert without key", "store: etcd://e:2379\nstore_tls: {cert: c.pem}\n", nil,
			`store_tls: key is required with cert (line 2)`},
		{"key without cert", "store: etcd://e:2379\nstore_tls: {ca: ca.pem, key: k.pem}\n", nil,
			`store_tls: cert is required with key (line 2)`},
		{"unknown store_tls key", "store: etcd://e:2379\nstore_tls: {ca: ca.pem, password: x}\n", nil,
			`store_tls.password: unknown key (line 2)`},
		{"leader_lease with a bbolt store", "leader_lease: 5s\n", nil,
			`leader_lease: only for an etcd store, where replicas elect a leader; a bbolt store has one bot (line 1)`},
		{"leader_lease too short", "store: etcd://e:2379\nleader_lease: 500ms\n", nil,
			`leader_lease: want at least 2s (etcd's shortest lease), got 500ms (line 2)`},
		{"username without password", "store: etcd://e:2379\n", map[string]string{EnvEtcdUsername: "shipmate"},
			`store: SHIPMATE_ETCD_USERNAME is set but SHIPMATE_ETCD_PASSWORD is not; etcd needs both (line 1)`},
		{"password without username", "store: etcd://e:2379\n", map[string]string{EnvEtcdPassword: "s3cret"},
			`store: SHIPMATE_ETCD_PASSWORD is set but SHIPMATE_ETCD_USERNAME is not; etcd needs both (line 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.head+valid), vars(tc.env))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
