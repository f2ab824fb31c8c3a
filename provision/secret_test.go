package provision

import (
	"context"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

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

// TestCrmDatabaseSeededWithOnePassword: a stack seeded before every user
// had a password of their own is not reseeded (replaced) by an apply that
// brings the password key, which would drop its data; the update refuses
// with a way out.
func TestCrmDatabaseSeededWithOnePassword(t *testing.T) {
	old := CrmDatabaseArgs{Host: "db-1", CrmBin: "crm", CrmVersion: "v1", DatabaseURL: "postgres://db", PrimarySystemID: "42",
		Records: 500, Users: 4, Stack: "s"}
	in := old
	in.PasswordKey = "0123456789abcdefghijklmnopqrstuv"
	r := &CrmDatabase{}
	d, err := r.Diff(context.Background(), infer.DiffRequest[CrmDatabaseArgs, CrmDatabaseState]{Inputs: in, State: CrmDatabaseState{old}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasChanges || d.DetailedDiff["passwordKey"].Kind != p.Update {
		t.Fatalf("diff = %+v, want an update of passwordKey, not a replace", d.DetailedDiff)
	}
	_, err = r.Update(context.Background(), infer.UpdateRequest[CrmDatabaseArgs, CrmDatabaseState]{Inputs: in, State: CrmDatabaseState{old}})
	if err == nil || !strings.Contains(err.Error(), "one password for every user") || !strings.Contains(err.Error(), "crmplan destroy") {
		t.Fatalf("update = %v, want a conflict naming the way out", err)
	}
	// A stack seeded with a key is replaced when the key changes, as before.
	old.PasswordKey = "another key 0123456789abcdefghij"
	d, _ = r.Diff(context.Background(), infer.DiffRequest[CrmDatabaseArgs, CrmDatabaseState]{Inputs: in, State: CrmDatabaseState{old}})
	if d.DetailedDiff["passwordKey"].Kind != p.UpdateReplace {
		t.Errorf("a new key: %+v, want a replace", d.DetailedDiff["passwordKey"])
	}
}
