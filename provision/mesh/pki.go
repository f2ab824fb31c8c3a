package mesh

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan"
)

// oidReceptorName is the otherName type Receptor reads node IDs from in a
// certificate's subjectAltName (Receptor's own OID, 1.3.6.1.4.1.2312.19.1).
var oidReceptorName = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 2312, 19, 1}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// certLifetime is long enough for a deployment and short enough that a
// leaked key of a destroyed stack stops mattering.
const certLifetime = 2 * 365 * 24 * time.Hour

// CA is a stack's own certificate authority: every node certificate of the
// stack is signed by it, and nothing else is. Its key is a secret file
// (0600) in the stack's mesh directory.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA for one stack.
func NewCA(stack string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "crmplan mesh CA " + stack, Organization: []string{"crmplan"}},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &CA{Cert: cert, key: key}, err
}

// LoadOrCreateCA reads the CA from dir (ca.crt, ca.key), or creates and
// writes one when there is none, so that re-applying a stack keeps its
// certificates valid.
func LoadOrCreateCA(dir, stack string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		ca, err := NewCA(stack)
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(ca.key)
		if err != nil {
			return nil, err
		}
		if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
			return nil, err
		}
		return ca, writePEM(certPath, "CERTIFICATE", ca.Cert.Raw, 0o644)
	}
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return &CA{Cert: cert, key: key}, nil
}

// Issue signs a certificate for node ID, valid as both TLS server and
// client (a node listens and dials). The node ID goes into the
// subjectAltName as Receptor's otherName, which is what end-to-end work TLS
// checks; ips are the addresses the node listens on, which is what link
// TLS checks.
func (ca *CA) Issue(nodeID string, ips []net.IP) (certDER []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	san, err := subjectAltName(nodeID, ips)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial(),
		Subject:         pkix.Name{CommonName: nodeID, Organization: []string{"crmplan"}},
		NotBefore:       time.Now().Add(-time.Minute),
		NotAfter:        time.Now().Add(certLifetime),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{san},
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	return certDER, key, err
}

// IssueServer signs a TLS server certificate (no client use, no Receptor
// node ID: it cannot join the mesh, whose links pin their peers'
// certificates) for the addresses ips, as the web tier's public port
// presents it. It returns the certificate and its key as PEM.
func (ca *CA) IssueServer(name string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"crmplan"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// CertPEM is the CA's certificate, which clients of the web tier trust.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// subjectAltName encodes the SAN by hand: Go's x509 has no field for an
// otherName. GeneralName choices are context-tagged: [0] otherName, [7]
// iPAddress.
func subjectAltName(nodeID string, ips []net.IP) (pkix.Extension, error) {
	value, err := asn1.MarshalWithParams(nodeID, "utf8")
	if err != nil {
		return pkix.Extension{}, err
	}
	other, err := asn1.Marshal(struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}{oidReceptorName, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: value}})
	if err != nil {
		return pkix.Extension{}, err
	}
	// Re-tag the otherName SEQUENCE as [0] IMPLICIT: keep its content.
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(other, &seq); err != nil {
		return pkix.Extension{}, err
	}
	names := []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: seq.Bytes}}
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: ip})
	}
	der, err := asn1.Marshal(names)
	return pkix.Extension{Id: oidSubjectAltName, Value: der}, err
}

// NodeIDs returns the Receptor node IDs a certificate names.
func NodeIDs(cert *x509.Certificate) ([]string, error) {
	var ids []string
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var names []asn1.RawValue
		if _, err := asn1.Unmarshal(ext.Value, &names); err != nil {
			return nil, err
		}
		for _, n := range names {
			if n.Class != asn1.ClassContextSpecific || n.Tag != 0 {
				continue
			}
			var other struct {
				ID    asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			// Undo the implicit [0] tag to read the SEQUENCE inside.
			seq := append([]byte{0x30}, n.FullBytes[1:]...)
			if _, err := asn1.Unmarshal(seq, &other); err != nil {
				return nil, err
			}
			if !other.ID.Equal(oidReceptorName) {
				continue
			}
			var id string
			if _, err := asn1.UnmarshalWithParams(other.Value.Bytes, &id, "utf8"); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// CheckNodeCert verifies that cert was issued by ca and names exactly the
// node ID want. Receptor's link TLS checks only the chain, so a node's
// certificate is pinned to its node ID here before the node may start.
func CheckNodeCert(ca *x509.Certificate, cert *x509.Certificate, want string) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return crmplan.Errorf(crmplan.ECONFLICT, "certificate of node %s is not from this stack's CA: %w", want, err).In("node " + want)
	}
	ids, err := NodeIDs(cert)
	if err != nil {
		return fmt.Errorf("node %s: read node IDs: %w", want, err)
	}
	if len(ids) != 1 || ids[0] != want {
		return crmplan.Errorf(crmplan.ECONFLICT, "certificate of node %s names node IDs %v, want exactly [%s]", want, ids, want).In("node " + want)
	}
	return nil
}

// Fingerprint is the SHA-256 of a certificate, as Receptor's pinned
// certificate options take it.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// newSigningKey makes the RSA key pair that signs work submissions:
// Receptor's work-signing reads a PKCS#1 private key, work-verification a
// PKIX public key.
func newSigningKey(privPath, pubPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(privPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600); err != nil {
		return err
	}
	return writePEM(pubPath, "PUBLIC KEY", pub, 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: typ, Bytes: der}); err != nil {
		return err
	}
	return renameio.WriteFile(path, buf.Bytes(), mode)
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// readCert reads one PEM certificate file.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}
