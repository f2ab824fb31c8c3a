// Package vpn is seed 002's integrator VPN access (ARVPN): a WireGuard
// endpoint in userspace (golang.zx2c4.com/wireguard over a tun device),
// for machines without the kernel module, behind a firewall in its own
// network namespace that lets tunnel clients open only the connections
// the plan allows.
package vpn

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// Key is a WireGuard (Curve25519) private or public key; its text form is
// base64, as `wg` and wg-quick configs write it.
type Key [32]byte

// GenerateKey returns a fresh private key, clamped as `wg genkey` does.
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return k, err
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// Public is the public key of private key k.
func (k Key) Public() Key {
	var p Key
	curve25519.ScalarBaseMult((*[32]byte)(&p), (*[32]byte)(&k))
	return p
}

func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// hex is the form wireguard-go's configuration protocol takes.
func (k Key) hex() string { return hex.EncodeToString(k[:]) }

// ParseKey reads a key in base64 (44 characters).
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("a WireGuard key is 32 bytes in base64 (44 characters), got %d characters", len(s))
	}
	copy(k[:], b)
	return k, nil
}

func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *Key) UnmarshalText(b []byte) error {
	p, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}
