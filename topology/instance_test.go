package topology

import "testing"

func TestDefaultInstance(t *testing.T) {
	tests := []struct {
		name  string
		role  Role
		cores int
		want  string
	}{
		{"small app server", RoleAPI, 2, "m6i.large"},
		{"unsized tier", RoleWeb, 0, "m6i.large"},
		{"four cores", RoleAPI, 4, "m6i.xlarge"},
		{"eight cores", RoleWorker, 8, "m6i.2xlarge"},
		{"beyond the table", RoleAPI, 32, "m6i.4xlarge"},
		{"database wants RAM", RoleDBPrimary, 4, "r6i.xlarge"},
		{"replica like its primary", RoleDBReplica, 16, "r6i.4xlarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultInstance(tt.role, tt.cores); got != tt.want {
				t.Errorf("DefaultInstance(%s, %d) = %s, want %s", tt.role, tt.cores, got, tt.want)
			}
		})
	}
}
