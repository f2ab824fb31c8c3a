package seed

import "testing"

func TestUserPasswordDistinct(t *testing.T) {
	key := []byte("a key of sixteen+")
	seen := map[string]string{}
	for _, email := range Emails(500) {
		pw := UserPassword(key, email)
		if len(pw) != 32 {
			t.Fatalf("%s: password %d characters, want 32", email, len(pw))
		}
		if other, ok := seen[pw]; ok {
			t.Fatalf("%s and %s share a password", email, other)
		}
		seen[pw] = email
	}
	if UserPassword([]byte("another key 1234"), "admin@example.com") == UserPassword(key, "admin@example.com") {
		t.Error("two keys give admin the same password")
	}
}
