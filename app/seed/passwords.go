package seed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// MinKeyLen is the shortest password key Run accepts: the key is all an
// attacker would need to know every seeded user's password.
const MinKeyLen = 16

// UserPassword is the password of the seeded user email under key: the
// first 24 bytes of HMAC-SHA256(key, email), URL-safe base64 (32
// characters). Every user gets their own, which tells nothing about the
// others' without the key, and whoever holds the key (the stack's
// controller, which writes them to its inventory) can list them all
// without a copy of each being kept anywhere else. crmplan's provision
// package spells the same derivation (it links nothing of app/).
func UserPassword(key []byte, email string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(email))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:24])
}

// Emails are the seeded users' addresses in id order: admin@, manager@,
// then rep1..repN@example.com.
func Emails(reps int) []string {
	out := []string{"admin@example.com", "manager@example.com"}
	for i := 1; i <= reps; i++ {
		out = append(out, fmt.Sprintf("rep%d@example.com", i))
	}
	return out
}
