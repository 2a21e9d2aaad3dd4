package etcdstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shipmate/internal/store/storetest"
)

// pki is a certificate authority with a certificate for etcd and one for
// Shipmate, as PEM files in dir.
type pki struct {
	dir                    string
	ca, server, client     string // certificate files
	serverKey, clientKey   string
	caCert                 *x509.Certificate
	serverPair, clientPair tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	caKey := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.ca = p.write(t, "ca.pem", "CERTIFICATE", der)
	p.server, p.serverKey, p.serverPair = p.issue(t, caKey, "server", 2, x509.ExtKeyUsageServerAuth)
	p.client, p.clientKey, p.clientPair = p.issue(t, caKey, "client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs a certificate for 127.0.0.1 and writes it and its key.
func (p *pki) issue(t *testing.T, caKey *ecdsa.PrivateKey, name string, serial int64, usage x509.ExtKeyUsage) (cert, key string, pair tls.Certificate) {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert = p.write(t, name+".pem", "CERTIFICATE", der)
	key = p.write(t, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	pair, err = tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pair
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The files of a CA and a client certificate connect to an etcd that
// wants both; without the client certificate etcd refuses.
func TestTLSFilesConnect(t *testing.T) {
	p := newPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	e := ownEtcd(t, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{p.clientPair}},
		"--cert-file", p.server, "--key-file", p.serverKey,
		"--trusted-ca-file", p.ca, "--client-cert-auth")

	cfg, err := TLSFiles(p.ca, p.client, p.clientKey)
	if err != nil {
		t.Fatalf("TLSFiles: %v", err)
	}
	s, err := Open(t.Context(), Config{Endpoints: []string{e.Endpoint}, TLS: cfg, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open over TLS: %v", err)
	}
	defer s.Close()
	storetest.MustCreate(t, s, storetest.NewRun("web", "prod", "1.0"))

	noCert, err := TLSFiles(p.ca, "", "")
	if err != nil {
		t.Fatalf("TLSFiles without a client certificate: %v", err)
	}
	if s, err := Open(t.Context(), Config{Endpoints: []string{e.Endpoint}, TLS: noCert, DialTimeout: time.Second}); err == nil {
		s.Close()
		t.Error("Open without the client certificate etcd asks for succeeded")
	}
}

// Every mistake in the files names the file.
func TestTLSFilesErrors(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(p.dir, "missing.pem")
	for _, tc := range []struct {
		name          string
		ca, cert, key string
		want          []string
	}{
		{"missing CA", missing, p.client, p.clientKey, []string{"CA file", missing, "no such file"}},
		{"missing certificate", p.ca, missing, p.clientKey, []string{"certificate file", missing, "no such file"}},
		{"missing key", p.ca, p.client, missing, []string{"key file", missing, "no such file"}},
		{"CA without a certificate", p.clientKey, p.client, p.clientKey, []string{"CA file", p.clientKey, "no PEM certificate"}},
		{"certificate without its key", p.ca, p.client, "", []string{p.client, "without its key"}},
		{"key without its certificate", p.ca, "", p.clientKey, []string{p.clientKey, "without its certificate"}},
		{"key of another certificate", p.ca, p.client, p.serverKey, []string{p.client, p.serverKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TLSFiles(tc.ca, tc.cert, tc.key)
			if err == nil {
				t.Fatal("TLSFiles succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
