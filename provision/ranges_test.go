package provision

import (
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/loopback"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/topology"
)

// TestPlanRangesAsApplySees: size and apply give one answer for a plan's
// zone ranges. size accepted ranges that apply's target then refused
// (issue 19): a private range without isolate, a public one, 0.0.0.0/0.
// Each case decodes a plan as size does and lays it out on the target
// apply would use (after isolatedTopology for isolate: true); the two must
// agree. 10.237.0.0/16 is a range no stack on this machine routes.
func TestPlanRangesAsApplySees(t *testing.T) {
	tests := []struct {
		name     string
		dmz, lan string
		isolate  bool
		wantOK   bool
	}{
		{"loopback", "127.10.1.0/24", "127.10.2.0/24", false, true},
		{"loopback, isolated", "127.237.1.0/24", "127.237.2.0/24", true, true},
		{"private, isolated", "10.237.1.0/24", "10.237.2.0/24", true, true},
		{"private without isolate", "10.237.1.0/24", "10.237.2.0/24", false, false},
		{"public", "8.8.8.0/24", "127.10.2.0/24", false, false},
		{"public, isolated", "8.8.8.0/24", "10.237.2.0/24", true, false},
		{"everything", "0.0.0.0/0", "127.10.2.0/24", false, false},
		{"all of loopback and more", "126.0.0.0/7", "127.10.2.0/24", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := planWithRanges(tt.dmz, tt.lan, tt.isolate)
			plan, sizeErr := topology.DecodePlan("p.yaml", []byte(src))
			if (sizeErr == nil) != tt.wantOK {
				t.Fatalf("size: %v, want ok %v", sizeErr, tt.wantOK)
			}
			applyErr := applyRanges(t, plan, src, tt.isolate)
			if (applyErr == nil) != tt.wantOK || (applyErr != nil && !strings.Contains(applyErr.Error(), "range")) {
				t.Errorf("size says %v, apply's target says %v", sizeErr, applyErr)
			}
		})
	}
}

// applyRanges lays the plan out as apply does; a plan size refused is
// built by hand from its text, so that the target is asked all the same.
func applyRanges(t *testing.T, plan *topology.Plan, src string, isolate bool) error {
	var top topology.Topology
	if plan != nil {
		l, err := topology.Lay(plan)
		if err != nil {
			t.Fatal(err)
		}
		top = l.Topology
	} else {
		dmz, lan := rangesOf(src)
		top = topology.Topology{
			Zones: []topology.Zone{{Name: "dmz", Kind: topology.DMZ, CIDR: dmz}, {Name: "lan", Kind: topology.LAN, CIDR: lan}},
			Hosts: []topology.Host{{Name: "web-1", Role: topology.RoleWeb, Zone: "dmz"}, {Name: "api-1", Role: topology.RoleAPI, Zone: "lan"},
				{Name: "db-1", Role: topology.RoleDBPrimary, Zone: "lan"}},
		}
	}
	in := LayoutInput{Paths: stackdir.Paths{StateDir: t.TempDir(), Stack: "ranges"}, Topology: top, Target: loopback.Target{}}
	if isolate {
		in.Topology, in.Target = isolatedTopology(top), netns.Target{}
	}
	_, err := NewLayout(in)
	if err != nil && strings.Contains(err.Error(), "needs root and network namespaces") {
		t.Skip(err)
	}
	return err
}

func planWithRanges(dmz, lan string, isolate bool) string {
	src := `name: ranges
workload: {named_users: 300, concurrency: 60%, tpm: 5, records: 1M}
zones:
  - {name: dmz, kind: dmz, cidr: ` + dmz + `}
  - {name: lan, kind: lan, cidr: ` + lan + `}
tiers:
  - {role: web, zone: dmz}
  - {role: api, zone: lan}
  - {role: db-primary, zone: lan}
`
	if isolate {
		src += "isolate: true\n"
	}
	return src
}

func rangesOf(src string) (dmz, lan string) {
	for _, line := range strings.Split(src, "\n") {
		if i := strings.Index(line, "cidr: "); i >= 0 {
			r := strings.TrimSuffix(line[i+len("cidr: "):], "}")
			if dmz == "" {
				dmz = r
			} else {
				lan = r
			}
		}
	}
	return dmz, lan
}
