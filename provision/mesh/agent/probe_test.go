package agent

import (
	"net"
	"testing"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

func TestProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	got := Probe(wire.Probe{Addrs: []string{l.Addr().String(), closedAddr}, TimeoutMs: 1000})
	want := []string{wire.ProbeOpen, wire.ProbeRefused}
	for i, r := range got.Results {
		if r.Result != want[i] || !r.Reached() {
			t.Errorf("%s: %s (%s), want %s", r.Addr, r.Result, r.Error, want[i])
		}
	}
}
