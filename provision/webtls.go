package provision

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// WebTLS says how the web tier's public port is secured. The zero value
// is the default: HTTPS with a certificate per web host from the stack's
// own CA (the mesh's), which crmplan's clients (verify's k6, its checks)
// trust through the inventory.
type WebTLS struct {
	// Off serves plain HTTP only (crmplan apply --web-tls off).
	Off bool
	// CertFile and KeyFile are the user's own certificate (chain) and key,
	// which every web host presents instead.
	CertFile, KeyFile string
	// CAFile is the CA crmplan's clients trust for the user's certificate;
	// empty means the system's roots.
	CAFile string
}

// certKey is one web host's certificate (chain) and key, PEM.
type certKey struct {
	Cert, Key string
}

// reissueBefore renews a kept certificate this long before it expires.
const reissueBefore = 30 * 24 * time.Hour

// webTLS gives every web-tier host of l its certificate and key, and
// writes the CA crmplan's clients trust to the stack's WebCA file (removed
// when they should trust the system's roots). Certificates the stack's CA
// issued are kept in the stack's tls directory and issued again only when
// missing, for another address, from another CA or about to expire: an
// apply that changes nothing must not roll the web tier.
func (r Request) webTLS(l Layout) (map[string]certKey, string, error) {
	paths := r.paths()
	var hosts []LocalHost
	for _, role := range []topology.Role{topology.RoleWeb, topology.RoleFailover} {
		hosts = append(hosts, l.ByRole(role)...)
	}
	if r.WebTLS.Off || len(hosts) == 0 {
		return nil, "", removeIfExists(paths.WebCA())
	}
	if r.WebTLS.CertFile != "" || r.WebTLS.KeyFile != "" {
		return r.userTLS(hosts)
	}
	if err := os.MkdirAll(paths.MeshDir(), 0o700); err != nil {
		return nil, "", err
	}
	ca, err := mesh.LoadOrCreateCA(paths.MeshDir(), l.Stack)
	if err != nil {
		return nil, "", fmt.Errorf("stack CA of %s: %w", l.Stack, err)
	}
	if err := os.MkdirAll(paths.WebTLSDir(), 0o700); err != nil {
		return nil, "", err
	}
	out := map[string]certKey{}
	for _, h := range hosts {
		ck, err := hostCert(ca, paths.WebTLSDir(), h)
		if err != nil {
			return nil, "", fmt.Errorf("web certificate of %s: %w", h.Name, err)
		}
		out[h.Name] = ck
	}
	return out, paths.WebCA(), writeIfChanged(paths.WebCA(), ca.CertPEM(), 0o644)
}

// hostCert returns h's kept certificate when it still fits, else issues
// and keeps a new one.
func hostCert(ca *mesh.CA, dir string, h LocalHost) (certKey, error) {
	certPath, keyPath := filepath.Join(dir, h.Name+".crt"), filepath.Join(dir, h.Name+".key")
	ip := net.ParseIP(h.Address)
	certPEM, err1 := os.ReadFile(certPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil && certFits(ca, certPEM, keyPEM, ip) {
		return certKey{Cert: string(certPEM), Key: string(keyPEM)}, nil
	}
	certPEM, keyPEM, err := ca.IssueServer(h.Name, []net.IP{ip})
	if err != nil {
		return certKey{}, err
	}
	if err := renameio.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return certKey{}, err
	}
	if err := renameio.WriteFile(certPath, certPEM, 0o644); err != nil {
		return certKey{}, err
	}
	return certKey{Cert: string(certPEM), Key: string(keyPEM)}, nil
}

// certFits: the pair matches, ca signed it for ip, and it has a while to go.
func certFits(ca *mesh.CA, certPEM, keyPEM []byte, ip net.IP) bool {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return false
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || time.Until(cert.NotAfter) < reissueBefore {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil && cert.VerifyHostname(ip.String()) == nil
}

// userTLS reads the user's own certificate and key for every web host.
func (r Request) userTLS(hosts []LocalHost) (map[string]certKey, string, error) {
	w := r.WebTLS
	where := "tls: cert_file, key_file"
	if w.CertFile == "" || w.KeyFile == "" {
		return nil, "", crmplan.Errorf(crmplan.EINVALID, "a certificate needs its key and a key its certificate").In(where).
			Try("tls: {cert_file: web.crt, key_file: web.key}   # or neither, for one from the stack's CA")
	}
	certPEM, err := os.ReadFile(w.CertFile)
	if err != nil {
		return nil, "", crmplan.Errorf(crmplan.EINVALID, "cannot read the certificate: %w", err).In("tls: cert_file")
	}
	keyPEM, err := os.ReadFile(w.KeyFile)
	if err != nil {
		return nil, "", crmplan.Errorf(crmplan.EINVALID, "cannot read the key: %w", err).In("tls: key_file")
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, "", crmplan.Errorf(crmplan.EINVALID, "the certificate and key do not make a pair: %w", err).In(where).
			Try("openssl x509 -noout -modulus -in CERT | openssl md5; openssl pkey -pubout -in KEY   # compare")
	}
	out := map[string]certKey{}
	for _, h := range hosts {
		out[h.Name] = certKey{Cert: string(certPEM), Key: string(keyPEM)}
	}
	webCA := r.paths().WebCA()
	if w.CAFile == "" {
		return out, "", removeIfExists(webCA)
	}
	caPEM, err := os.ReadFile(w.CAFile)
	if err != nil {
		return nil, "", crmplan.Errorf(crmplan.EINVALID, "cannot read the CA: %w", err).In("tls: ca_file")
	}
	if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
		return nil, "", crmplan.Errorf(crmplan.EINVALID, "%s holds no PEM certificate", w.CAFile).In("tls: ca_file")
	}
	if err := os.MkdirAll(filepath.Dir(webCA), 0o700); err != nil {
		return nil, "", err
	}
	return out, webCA, writeIfChanged(webCA, caPEM, 0o644)
}

func writeIfChanged(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return renameio.WriteFile(path, data, mode)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// checkWeb asks the web tier's /healthz over HTTPS as crmplan's clients
// do, trusting the inventory's CA (never skipping verification), and says
// until when its certificate is valid, or why the request failed. A plain
// HTTP web tier says so.
func checkWeb(ctx context.Context, inv stackdir.Inventory) string {
	if !strings.HasPrefix(inv.WebURL, "https://") {
		return "plain HTTP"
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	if inv.WebCA != "" {
		caPEM, err := os.ReadFile(inv.WebCA)
		if err != nil {
			return "cannot read the stack's CA: " + err.Error()
		}
		tr.TLSClientConfig.RootCAs = x509.NewCertPool()
		tr.TLSClientConfig.RootCAs.AppendCertsFromPEM(caPEM)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inv.WebURL+"/healthz", nil)
	if err != nil {
		return err.Error()
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "HTTPS: " + err.Error()
	}
	res.Body.Close()
	if res.TLS == nil || len(res.TLS.PeerCertificates) == 0 {
		return "HTTPS without a certificate"
	}
	return fmt.Sprintf("HTTPS %s, certificate valid until %s", res.Status, res.TLS.PeerCertificates[0].NotAfter.UTC().Format(time.DateOnly))
}
