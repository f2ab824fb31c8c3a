package provision

import "testing"

func TestReleaseVersion(t *testing.T) {
	tests := []struct {
		name, out, digest, want string
	}{
		{"urfave version line", "crm version 1.2.0\n", "3f9a0c1d2e4b5a6978", "1.2.0-3f9a0c1d2e4b"},
		{"dev build", "crm version dev\n", "01cf62b4f9af00", "dev-01cf62b4f9af"},
		{"odd characters", "crm version 2.0/rc 1:x\n", "abcdef0123456789", "1_x-abcdef012345"},
		{"path-like", "crm version ../../etc\n", "abcdef0123456789", "etc-abcdef012345"},
		{"no output", "", "abcdef0123456789", "dev-abcdef012345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := releaseVersion(tt.out, tt.digest); got != tt.want {
				t.Errorf("releaseVersion(%q) = %q, want %q", tt.out, got, tt.want)
			}
		})
	}
}

// TestOnlyPoolChanged: an api, worker or etl server whose update changes
// nothing but its pool size is changed in place (not drained, not
// restarted); any other difference, or another role, rolls it as before.
func TestOnlyPoolChanged(t *testing.T) {
	base := CrmServiceArgs{Role: "api", CrmVersion: "v1", Args: []string{"--x"},
		Env: map[string]string{"CRM_DATABASE_URL": "postgres://a", poolEnv: "3"}}
	with := func(f func(*CrmServiceArgs)) CrmServiceArgs {
		a := base
		a.Env = map[string]string{"CRM_DATABASE_URL": "postgres://a", poolEnv: "3"}
		f(&a)
		return a
	}
	tests := []struct {
		name string
		in   CrmServiceArgs
		want bool
	}{
		{"pool only", with(func(a *CrmServiceArgs) { a.Env[poolEnv] = "2" }), true},
		{"nothing", base, false},
		{"pool and database", with(func(a *CrmServiceArgs) { a.Env[poolEnv], a.Env["CRM_DATABASE_URL"] = "2", "postgres://b" }), false},
		{"pool and release", with(func(a *CrmServiceArgs) { a.Env[poolEnv], a.CrmVersion = "2", "v2" }), false},
		{"pool and arguments", with(func(a *CrmServiceArgs) { a.Env[poolEnv], a.Args = "2", []string{"--y"} }), false},
		{"pool dropped", with(func(a *CrmServiceArgs) { delete(a.Env, poolEnv) }), true},
		{"a worker's pool", with(func(a *CrmServiceArgs) { a.Role, a.Env[poolEnv] = "worker", "2" }), true},
		{"an etl server's pool", with(func(a *CrmServiceArgs) { a.Role, a.Env[poolEnv] = "etl", "8" }), true},
		{"a worker's pool and inbox", with(func(a *CrmServiceArgs) { a.Role, a.Env[poolEnv], a.Args = "worker", "2", []string{"--inbox", "in"} }), false},
		{"a marketing server's pool", with(func(a *CrmServiceArgs) { a.Role, a.Env[poolEnv] = "marketing", "2" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := base
			if tt.in.Role != base.Role {
				old.Role = tt.in.Role
			}
			if got := onlyPoolChanged(old, tt.in); got != tt.want {
				t.Errorf("onlyPoolChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
