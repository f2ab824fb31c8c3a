package secret

import (
	"bytes"
	"strings"
	"testing"
)

func TestPassword(t *testing.T) {
	hash, err := HashPassword("correct horse", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, "correct") || !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", hash)
	}
	tests := []struct {
		name, password, hash string
		want                 bool
	}{
		{"right", "correct horse", hash, true},
		{"wrong", "correct horse!", hash, false},
		{"empty", "", hash, false},
		{"garbage hash", "correct horse", "$argon2id$v=19$x", false},
		{"absurd cost", "correct horse", strings.Replace(hash, "m=19456", "m=99999999", 1), false},
		{"bcrypt-looking", "x", "$2a$10$abcdefghijklmnopqrstuv", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyPassword(tt.password, tt.hash); got != tt.want {
				t.Errorf("VerifyPassword = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := HashPassword("", DefaultParams); err == nil {
		t.Error("empty password hashed")
	}
	h2, _ := HashPassword("correct horse", DefaultParams)
	if h2 == hash {
		t.Error("two hashes of one password are equal: salt missing")
	}
}

func TestToken(t *testing.T) {
	a, ha := NewToken("crm_")
	b, _ := NewToken("crm_")
	if a == b || !strings.HasPrefix(a, "crm_") || len(a) < 40 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !bytes.Equal(ha, HashToken(a)) || bytes.Equal(ha, HashToken(b)) {
		t.Error("hash does not identify the token")
	}
}
