package topology

import "testing"

// TestEveryRoleHasAPurpose: `crmplan size` explains every role it places
// by its purpose; a role added without one would go unexplained.
func TestEveryRoleHasAPurpose(t *testing.T) {
	for _, r := range Roles() {
		if r.Purpose() == "" {
			t.Errorf("role %s has no purpose in topology/roles.go: crmplan size could not say why it places it", r)
		}
	}
	if Role("nonesuch").Purpose() != "" {
		t.Error("an unknown role has a purpose")
	}
}
