package provision

import (
	"testing"

	"github.com/crmplan/crmplan/app/seed"
)

// TestSeededUsersMatchCrmSeed holds the inventory's passwords to crm
// seed's: the same users, in the same order, with the passwords crm seed
// hashed. Only this test links app/seed into provision.
func TestSeededUsersMatchCrmSeed(t *testing.T) {
	key := []byte("0123456789abcdefghijklmnopqrstuv")
	got := seededUsers(key, 5)
	want := seed.Emails(5)
	if len(got) != len(want) {
		t.Fatalf("%d users, crm seed makes %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for i, u := range got {
		if u.Email != want[i] || u.Password != seed.UserPassword(key, want[i]) {
			t.Errorf("user %d: %s, crm seed makes %s with another password", i, u.Email, want[i])
		}
		if seen[u.Password] {
			t.Errorf("%s shares a password", u.Email)
		}
		seen[u.Password] = true
	}
	if got[0].Email != LoadUserEmail {
		t.Errorf("first user %s, want the load user %s", got[0].Email, LoadUserEmail)
	}
}
