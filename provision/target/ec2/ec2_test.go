package ec2

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// TestTarget: the adapter takes the aws stack's instances as they are and
// refuses only what cannot be an instance's range; the chaos kill, which
// it cannot do, says so with a Try line.
func TestTarget(t *testing.T) {
	tests := []struct {
		name    string
		cidr    string
		wantErr bool
	}{
		{name: "vpc subnet", cidr: "10.40.1.0/24"},
		{name: "loopback", cidr: "127.10.1.0/24", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Target{}.CheckRange("dmz", netip.MustParsePrefix(tt.cidr))
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckRange(%s) = %v, want error %v", tt.cidr, err, tt.wantErr)
			}
		})
	}
	h := target.Host{Name: "web-1", Zone: "dmz", CIDR: "10.40.1.0/24", Address: "10.40.1.10", Dir: t.TempDir()}
	ctx := context.Background()
	if err := (Target{}).Create(ctx, h); err != nil {
		t.Errorf("Create: %v", err)
	}
	if ok, err := (Target{}).Exists(ctx, h); !ok || err != nil {
		t.Errorf("Exists = %v, %v; want the instance taken as there", ok, err)
	}
	l := Target{}.Nodes(h)
	if _, ok := l.(target.MeshSeen); !ok {
		t.Errorf("the launcher does not say that its nodes are seen through the mesh only")
	}
	if _, running := l.Running(target.Node{ID: "web-1"}); running {
		t.Errorf("Running says yes about a node it cannot see")
	}
	var ce *crmplan.Error
	if err := l.Kill(target.Node{ID: "web-1"}); !errors.As(err, &ce) || ce.Hint == "" {
		t.Errorf("Kill = %v, want an error with a Try line", err)
	}
}
