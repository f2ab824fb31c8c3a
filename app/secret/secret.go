// Package secret hashes passwords with argon2id and makes the random
// session and API tokens the CRM hands out. Only hashes are stored: a
// leaked database does not let anyone sign in.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id costs. The defaults follow OWASP's second
// recommendation (19 MiB, 2 passes, 1 lane): about 30 ms on one core here,
// which bounds how fast sign-ins can be guessed without starving the server.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams are the costs new hashes get.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const keyLen = 32

// HashPassword returns an encoded argon2id hash in the PHC string format.
func HashPassword(password string, p Params) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, in constant time.
func VerifyPassword(password, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false
	}
	// Bound the costs a stored hash can demand.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 10 || p.Threads == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) != keyLen {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NewToken returns a random token for the client and the hash to store.
// prefix marks the kind ("crm_" for API tokens) so leaked tokens are
// recognizable.
func NewToken(prefix string) (token string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a token: SHA-256 suffices for 256 random bits.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
