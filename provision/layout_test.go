package provision

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

func TestNewLayout(t *testing.T) {
	paths := stackdir.Paths{StateDir: "/s", Stack: "crm"}
	tests := []struct {
		name     string
		topo     topology.Topology
		pinned   map[string]string
		want     []string // name=address:port dir
		wantWeb  string
		wantCode string
	}{
		{
			name: "addresses and ports filled per zone",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "dmz", CIDR: "127.10.1.0/24"}, {Name: "lan"}},
				Hosts: []topology.Host{
					{Name: "web-1", Role: topology.RoleWeb, Zone: "dmz"},
					{Name: "api-1", Role: topology.RoleAPI, Zone: "lan"},
					{Name: "api-2", Role: topology.RoleAPI, Zone: "lan"},
					{Name: "db-1", Role: topology.RoleDBPrimary, Zone: "lan", Address: "127.10.2.50"},
				},
			},
			want: []string{
				"web-1=127.10.1.2:8080 /s/crm/hosts/web-1", "api-1=127.10.2.2:8081 /s/crm/hosts/api-1",
				"api-2=127.10.2.3:8081 /s/crm/hosts/api-2", "db-1=127.10.2.50:5432 /s/crm/hosts/db-1",
			},
			wantWeb: "http://127.10.1.2:8080",
		},
		{
			name: "non-loopback zone range",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "dmz", CIDR: "10.0.0.0/24"}},
				Hosts: []topology.Host{{Name: "web-1", Role: topology.RoleWeb, Zone: "dmz"}},
			},
			wantCode: crmplan.EINVALID,
		},
		{
			name: "unknown zone",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "dmz"}},
				Hosts: []topology.Host{{Name: "web-1", Role: topology.RoleWeb, Zone: "lan"}},
			},
			wantCode: crmplan.EINVALID,
		},
		{
			name: "api without a primary",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "lan"}},
				Hosts: []topology.Host{{Name: "api-1", Role: topology.RoleAPI, Zone: "lan"}},
			},
			wantCode: crmplan.EINVALID,
		},
		{
			name: "two hosts asking for one address",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "lan"}},
				Hosts: []topology.Host{
					{Name: "db-1", Role: topology.RoleDBPrimary, Zone: "lan", Address: "127.10.1.9"},
					{Name: "db-2", Role: topology.RoleDBReplica, Zone: "lan", Address: "127.10.1.9"},
				},
			},
			want: []string{"db-1=127.10.1.9:5432 /s/crm/hosts/db-1", "db-2=127.10.1.2:5432 /s/crm/hosts/db-2"},
		},
		{
			// The topology numbers hosts in order, so a third api server takes
			// the primary's address; pinned addresses keep the primary put.
			name: "scale out keeps pinned addresses",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "lan", CIDR: "127.10.2.0/24"}},
				Hosts: []topology.Host{
					{Name: "api-1", Role: topology.RoleAPI, Zone: "lan", Address: "127.10.2.10"},
					{Name: "api-2", Role: topology.RoleAPI, Zone: "lan", Address: "127.10.2.11"},
					{Name: "api-3", Role: topology.RoleAPI, Zone: "lan", Address: "127.10.2.12"},
					{Name: "db-1", Role: topology.RoleDBPrimary, Zone: "lan", Address: "127.10.2.13"},
				},
			},
			pinned: map[string]string{"api-1": "127.10.2.10", "api-2": "127.10.2.11", "db-1": "127.10.2.12"},
			want: []string{
				"api-1=127.10.2.10:8081 /s/crm/hosts/api-1", "api-2=127.10.2.11:8081 /s/crm/hosts/api-2",
				"api-3=127.10.2.2:8081 /s/crm/hosts/api-3", "db-1=127.10.2.12:5432 /s/crm/hosts/db-1",
			},
		},
		{
			name: "address outside the zone",
			topo: topology.Topology{
				Zones: []topology.Zone{{Name: "lan", CIDR: "127.10.2.0/24"}},
				Hosts: []topology.Host{{Name: "db-1", Role: topology.RoleDBPrimary, Zone: "lan", Address: "127.10.3.1"}},
			},
			wantCode: crmplan.EINVALID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLayout(LayoutInput{Paths: paths, Topology: tt.topo, Pinned: tt.pinned})
			if tt.wantCode != "" {
				if crmplan.ErrorCode(err) != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range l.Hosts {
				got = append(got, fmt.Sprintf("%s=%s:%d %s", h.Name, h.Address, h.Port, h.Dir))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hosts = %q, want %q", got, tt.want)
			}
			if l.WebURL() != tt.wantWeb {
				t.Errorf("web URL = %q, want %q", l.WebURL(), tt.wantWeb)
			}
		})
	}
}

func TestLocalPGSettings(t *testing.T) {
	tests := []struct {
		name string
		in   sizing.PGSettings
		want map[string]string
	}{
		{"small settings kept", sizing.PGSettings{SharedBuffers: "128MB", WorkMem: "4MB", MaxConnections: 100},
			map[string]string{"shared_buffers": "128MB", "work_mem": "4MB", "max_connections": "100"}},
		{"dedicated-server memory capped", sizing.PGSettings{SharedBuffers: "8GB", EffectiveCacheSize: "24GB", MaintenanceWorkMem: "2GB"},
			map[string]string{"shared_buffers": "256MB", "effective_cache_size": "1GB", "maintenance_work_mem": "128MB"}},
		{"empty", sizing.PGSettings{}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := localPGSettings(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDiffInputs(t *testing.T) {
	base := CrmServiceArgs{Host: "api-1", Role: "api", Address: "127.0.0.2", Port: 8081, Args: nil, Env: map[string]string{}}
	tests := []struct {
		name        string
		change      func(*CrmServiceArgs)
		wantChanges bool
		want        map[string]p.DiffKind
	}{
		{"no change, nil vs empty", func(a *CrmServiceArgs) { a.Args = []string{}; a.Env = nil }, false, map[string]p.DiffKind{}},
		{"port replaces", func(a *CrmServiceArgs) { a.Port = 9000 }, true, map[string]p.DiffKind{"port": p.UpdateReplace}},
		{"args update", func(a *CrmServiceArgs) { a.Args = []string{"--backend", "x"} }, true, map[string]p.DiffKind{"args": p.Update}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base
			tt.change(&next)
			d := diffInputs(base, next, "host", "role", "address", "port")
			if d.HasChanges != tt.wantChanges {
				t.Errorf("HasChanges = %v, want %v", d.HasChanges, tt.wantChanges)
			}
			got := map[string]p.DiffKind{}
			for k, v := range d.DetailedDiff {
				got[k] = v.Kind
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diff = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProgressError(t *testing.T) {
	tests := []struct {
		name     string
		diag     string
		wantCode string
		wantHint string
	}{
		{"provider conflict", "error: [conflict] host db-1: port 127.0.0.2:5432 is already taken: bind [try: ss -ltnp 'sport = :5432']",
			crmplan.ECONFLICT, "ss -ltnp 'sport = :5432'"},
		{"plain failure", "postgres exited", crmplan.EINTERNAL, "crmplan status   # and the logs in the host's directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := newProgress(nil, false)
			pr.handle(apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{
				URN: "urn:pulumi:s::crmplan::crmplan:index:Host::db-1", Message: tt.diag, Severity: "error"}})
			err := pr.asError(errors.New("exit status 255"))
			if crmplan.ErrorCode(err) != tt.wantCode || crmplan.ErrorHint(err) != tt.wantHint {
				t.Errorf("err = %v (code %q, hint %q), want code %q hint %q", err, crmplan.ErrorCode(err), crmplan.ErrorHint(err), tt.wantCode, tt.wantHint)
			}
		})
	}
}
