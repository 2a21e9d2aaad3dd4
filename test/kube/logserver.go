package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"
)

// logServer is the fake kubelet's HTTPS endpoint (the kubelet port of the
// Node). The apiserver proxies pods/log to it, authenticating with a client
// certificate and verifying the server certificate against CAFile, as it
// would against a real kubelet.
type logServer struct {
	*httptest.Server
	Port           int
	CAFile         string // --kubelet-certificate-authority
	ClientCertFile string // --kubelet-client-certificate
	ClientKeyFile  string // --kubelet-client-key
}

func startLogServer(dir, nodeName string, h http.Handler) (*logServer, error) {
	ca, caKey, err := newCert(nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "shipmate-test-kubelet-ca"},
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	})
	if err != nil {
		return nil, err
	}
	srvCert, srvKey, err := newCert(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeName},
		DNSNames:    []string{nodeName, "localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := newCert(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"kubeadm:cluster-admins"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}

	s := &logServer{
		CAFile:         filepath.Join(dir, "kubelet-ca.crt"),
		ClientCertFile: filepath.Join(dir, "apiserver-kubelet-client.crt"),
		ClientKeyFile:  filepath.Join(dir, "apiserver-kubelet-client.key"),
	}
	clientKeyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		return nil, err
	}
	for path, block := range map[string]*pem.Block{
		s.CAFile:         {Type: "CERTIFICATE", Bytes: ca.Raw},
		s.ClientCertFile: {Type: "CERTIFICATE", Bytes: clientCert.Raw},
		s.ClientKeyFile:  {Type: "EC PRIVATE KEY", Bytes: clientKeyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	s.Server = httptest.NewUnstartedServer(h)
	s.Server.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey, Leaf: srvCert}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	s.Server.StartTLS()
	s.Port = s.Server.Listener.Addr().(*net.TCPAddr).Port
	return s, nil
}

// newCert makes a P-256 key and a certificate for it from tmpl, signed by
// parent (self-signed when parent is nil).
func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}
