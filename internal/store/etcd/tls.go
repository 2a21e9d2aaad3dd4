package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// TLSFiles builds the TLS configuration of a connection to etcd from PEM
// files: ca, the certificate authority that signed etcd's certificate
// ("": the system's), and cert and key, the client certificate etcd asks
// for with --client-cert-auth (both "": none). Each error names its file.
func TLSFiles(ca, cert, key string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		data, err := readPEM("CA file", ca)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("etcd TLS: CA file %s holds no PEM certificate", ca)
		}
	}
	switch {
	case cert == "" && key == "":
		return c, nil
	case cert == "":
		return nil, fmt.Errorf("etcd TLS: key file %s is given without its certificate", key)
	case key == "":
		return nil, fmt.Errorf("etcd TLS: certificate file %s is given without its key", cert)
	}
	certPEM, err := readPEM("certificate file", cert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPEM("key file", key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: certificate file %s with key file %s: %w", cert, key, err)
	}
	c.Certificates = []tls.Certificate{pair}
	return c, nil
}

// readPEM reads one of TLSFiles' files; what says which.
func readPEM(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The path is in the message already; the cause is what is left.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("etcd TLS: %s %s: %w", what, path, err)
	}
	return data, nil
}
