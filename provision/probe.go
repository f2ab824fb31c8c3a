package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// probeTimeout bounds one host's probe unit; a connect waits probeConnect.
const (
	probeTimeout = 60 * time.Second
	probeConnect = 2 * time.Second
)

// ProbeCell is one ordered pair of hosts and a port, planned against
// measured; ProbeMatrix is crmplan probe's result. Both live in stackdir,
// where Probe keeps the last matrix for the report.
type (
	ProbeCell   = stackdir.ProbeCell
	ProbeMatrix = stackdir.ProbeResult
)

// Probe tries, from inside every host of the stack (a probe unit through
// its mesh node), a TCP connection to every other host on every port the
// topology knows (its links' and its hosts' service ports), and compares
// what got through with what the links allow. The mesh's own port is not
// probed. On the loopback target every host shares this machine's network,
// so everything gets through and every pair no link allows is a
// difference: only an isolated stack (apply --isolate) enforces the links.
// The matrix is saved in the stack's state dir (stackdir.SaveProbe), where
// the report's network policy section reads it.
func Probe(ctx context.Context, stateDir, stack string, links []topology.Link) (ProbeMatrix, error) {
	inv, err := stackdir.LoadInventory(stateDir, stack)
	if err != nil {
		return ProbeMatrix{}, err
	}
	pm := ProbeMatrix{Stack: inv.Stack, Target: inv.Target, MeasuredAt: time.Now().UTC().Truncate(time.Second),
		Ports: probePorts(inv, links)}
	m, err := mesh.Open(stateDir, inv.Stack, targets())
	if err != nil {
		return pm, err
	}
	routed, err := m.Reach(ctx, routeWait)
	if err != nil {
		return pm, crmplan.Errorf(crmplan.EUNAVAILABLE, "mesh controller: %w", err).Try("crmplan status --stack %s", stack)
	}
	allowed := map[string]bool{}
	for _, l := range links {
		allowed[fmt.Sprintf("%s>%s:%d", l.From, l.To, l.Port)] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, src := range inv.Hosts {
		var cells []ProbeCell
		var addrs []string
		for _, dst := range inv.Hosts {
			if dst.Name == src.Name {
				continue
			}
			for _, port := range pm.Ports {
				cells = append(cells, ProbeCell{From: src.Name, To: dst.Name, Port: port,
					Planned: allowed[fmt.Sprintf("%s>%s:%d", src.Role, dst.Role, port)]})
				addrs = append(addrs, net.JoinHostPort(dst.Address, strconv.Itoa(port)))
			}
		}
		wg.Go(func() {
			results, err := probeFrom(ctx, m, src.Name, routed[src.Name], addrs)
			for i := range cells {
				switch {
				case err != nil:
					cells[i].Measured = "error: " + err.Error()
				default:
					cells[i].Measured, cells[i].Reached = results[i].Result, results[i].Reached()
					cells[i].Match = cells[i].Reached == cells[i].Planned
				}
			}
			mu.Lock()
			pm.Cells = append(pm.Cells, cells...)
			mu.Unlock()
		})
	}
	wg.Wait()
	order := map[string]int{}
	for i, h := range inv.Hosts {
		order[h.Name] = i
	}
	sort.SliceStable(pm.Cells, func(i, j int) bool {
		a, b := pm.Cells[i], pm.Cells[j]
		if a.From != b.From {
			return order[a.From] < order[b.From]
		}
		if a.To != b.To {
			return order[a.To] < order[b.To]
		}
		return a.Port < b.Port
	})
	for _, c := range pm.Cells {
		if !c.Match {
			pm.Differences++
		}
	}
	if err := stackdir.SaveProbe(stateDir, pm); err != nil {
		return pm, err
	}
	return pm, nil
}

// probePorts are the ports the topology knows: its links' and its hosts'.
func probePorts(inv stackdir.Inventory, links []topology.Link) []int {
	set := map[int]bool{}
	for _, l := range links {
		set[l.Port] = true
	}
	for _, h := range inv.Hosts {
		if h.Port > 0 {
			set[h.Port] = true
		}
	}
	var out []int
	for p := range set {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// probeFrom runs one probe unit on host.
func probeFrom(ctx context.Context, m *mesh.Mesh, host string, routed bool, addrs []string) ([]wire.ProbeResult, error) {
	if !routed {
		return nil, fmt.Errorf("the controller has no route to %s's mesh node", host)
	}
	payload, err := json.Marshal(wire.Probe{Addrs: addrs, TimeoutMs: int(probeConnect / time.Millisecond)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := m.Run(ctx, host, mesh.Work{Type: wire.WorkProbe, Payload: bytes.NewReader(payload)})
	if err != nil {
		return nil, err
	}
	var rep wire.ProbeReport
	if err := json.Unmarshal([]byte(out.Text), &rep); err != nil {
		return nil, fmt.Errorf("%s's probe: %w", host, err)
	}
	if len(rep.Results) != len(addrs) {
		return nil, fmt.Errorf("%s's probe: %d results for %d addresses", host, len(rep.Results), len(addrs))
	}
	return rep.Results, nil
}
