package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// LoadGenerator is a loadgen host of a deployed stack as one of verify's
// load generators (it satisfies loadgen.Generator): its share of a run
// goes to the host as a crmplan-load unit through the mesh, and the
// host's agent runs k6 there.
type LoadGenerator struct {
	m      *mesh.Mesh
	host   string
	routed bool
}

// LoadgenHosts returns the names of the stack's loadgen hosts, in the
// inventory's order.
func LoadgenHosts(inv stackdir.Inventory) []string {
	var out []string
	for _, h := range inv.Hosts {
		if h.Role == string(topology.RoleLoadgen) {
			out = append(out, h.Name)
		}
	}
	return out
}

// LoadGenerators opens the stack's mesh for the named loadgen hosts. A
// host the controller has no route to is not an error yet: its Check is.
func LoadGenerators(ctx context.Context, stateDir, stack string, hosts []string) ([]LoadGenerator, error) {
	m, err := mesh.Open(stateDir, stack, targets())
	if err != nil {
		return nil, err
	}
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "mesh controller: %w", err).Try("crmplan status --stack %s", stack)
	}
	out := make([]LoadGenerator, len(hosts))
	for i, h := range hosts {
		out[i] = LoadGenerator{m: m, host: h, routed: routed[h]}
	}
	return out, nil
}

func (g LoadGenerator) Name() string { return g.host }

// Check pings the host's node through the mesh.
func (g LoadGenerator) Check(ctx context.Context) error {
	if !g.routed {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "the mesh has no route to %s", g.host).In("host " + g.host)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := g.m.Ping(ctx, g.host)
	return err
}

// Load runs spec on the host and returns its report.
func (g LoadGenerator) Load(ctx context.Context, spec wire.LoadSpec) (wire.LoadReport, error) {
	payload, err := json.Marshal(spec)
	if err != nil {
		return wire.LoadReport{}, err
	}
	out, err := g.m.Run(ctx, g.host, mesh.Work{Type: wire.WorkLoad, Payload: bytes.NewReader(payload)})
	if err != nil {
		return wire.LoadReport{}, err
	}
	var rep wire.LoadReport
	if err := json.Unmarshal([]byte(out.Text), &rep); err != nil {
		return rep, fmt.Errorf("%s's load report: %w", g.host, err)
	}
	return rep, nil
}
