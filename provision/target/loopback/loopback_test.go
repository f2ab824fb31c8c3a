package loopback

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/targettest"
)

func TestContract(t *testing.T) {
	dir := t.TempDir()
	// 127.10.250.0/24: no other test of the repository places hosts there.
	cidr := netip.MustParsePrefix("127.10.250.0/24")
	targettest.Run(t, targettest.Fixture{
		Target: Target{},
		Host: func(t *testing.T, i int) target.Host {
			name := fmt.Sprintf("web-%d", i)
			return target.Host{Name: name, Zone: "dmz", CIDR: cidr.String(),
				Address: fmt.Sprintf("127.10.250.%d", 10+i), Dir: filepath.Join(dir, name)}
		},
		Range:    cidr,
		Foreign:  netip.MustParsePrefix("10.10.1.0/24"),
		Outside:  "127.10.251.10",
		Receptor: targettest.Receptor(t),
		NodePort: 27198,
	})
}

func TestCheckRange(t *testing.T) {
	tests := []struct {
		cidr    string
		wantErr bool
	}{
		{"127.10.1.0/24", false},
		{"127.0.0.0/8", false},
		{"10.10.1.0/24", true},
		{"192.168.0.0/16", true},
		{"0.0.0.0/0", true},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			err := Target{}.CheckRange("lan", netip.MustParsePrefix(tt.cidr))
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckRange(%s) = %v, wantErr %v", tt.cidr, err, tt.wantErr)
			}
		})
	}
}
