package provision

import (
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/mesh/wire"
	"github.com/crmplan/crmplan/topology"
)

// meshDeploy is the program's part that sends everything through the
// mesh: the MeshNodes resource every resource on a host depends on.
type meshDeploy struct {
	nodes pulumi.Resource
}

// viaMesh completes a CrmService's inputs for deployment through the mesh
// (every crm role goes through it) and returns the options that order it:
// after the mesh.
func (d *deployer) viaMesh(h LocalHost, role topology.Role, args []string, inputs pulumi.Map) ([]pulumi.ResourceOption, error) {
	inputs["stateDir"] = pulumi.String(d.l.StateDir)
	inputs["stack"] = pulumi.String(d.l.Stack)
	switch role {
	case topology.RoleWeb, topology.RoleIntegration, topology.RoleProxy, topology.RoleAdmin:
		// Their balancers take a new api tier (the proxy's: a new
		// integrator tier) through it without a restart; the admin
		// console its new members.
		inputs["args"] = pulumi.ToStringArray(append(append([]string(nil), args...), "--admin-socket", wire.AdminSocket(h.Dir, string(role))))
	case topology.RoleAPI:
		var webs []string
		for _, r := range []topology.Role{topology.RoleWeb, topology.RoleFailover} {
			for _, w := range d.l.ByRole(r) {
				webs = append(webs, w.Name)
			}
		}
		inputs["drainVia"] = pulumi.ToStringArray(webs)
		var esbs []string
		for _, e := range d.l.ByRole(topology.RoleIntegration) {
			esbs = append(esbs, e.Name)
		}
		inputs["drainEsb"] = pulumi.ToStringArray(esbs)
	}
	// A tier's hosts are created together; an update of a tier still goes
	// one host at a time (CrmService.Update holds the tier's turn).
	return []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{d.mesh.nodes})}, nil
}

// meshNodes registers the stack's mesh over every host, after the hosts.
func (d *deployer) meshNodes() (pulumi.Resource, error) {
	receptor, err := receptorBinary(d.bins)
	if err != nil {
		return nil, err
	}
	agent, err := hostBinary(d.bins)
	if err != nil {
		return nil, err
	}
	var zones pulumi.Array
	for _, z := range d.l.Zones {
		zones = append(zones, pulumi.Map{"name": pulumi.String(z.Name), "kind": pulumi.String(string(z.Kind))})
	}
	var hosts pulumi.Array
	var deps []pulumi.Resource
	loadgen := false
	for _, h := range d.l.Hosts {
		host := pulumi.Map{"name": pulumi.String(h.Name), "zone": pulumi.String(h.Zone),
			"address": pulumi.String(h.Address), "dir": pulumi.String(h.Dir)}
		if h.Role == topology.RoleLoadgen {
			host["role"], loadgen = pulumi.String(string(h.Role)), true
		}
		hosts = append(hosts, host)
		deps = append(deps, d.hosts[h.Name])
	}
	inputs := pulumi.Map{
		"stateDir": pulumi.String(d.l.StateDir), "stack": pulumi.String(d.l.Stack), "zones": zones, "hosts": hosts,
		"port": pulumi.Int(mesh.DefaultPort), "receptor": pulumi.String(receptor), "agentBin": pulumi.String(agent),
		"target": pulumi.String(d.l.Target),
	}
	if d.l.RelayPublic != "" {
		inputs["relayPublic"] = pulumi.String(d.l.RelayPublic)
	}
	if loadgen {
		inputs["k6Bin"] = pulumi.String(d.bins.Self)
	}
	var res plainResource
	err = d.ctx.RegisterResource(tokenMeshNodes, d.l.Stack+"-mesh", inputs, &res, pulumi.DependsOn(deps))
	return &res, err
}

// hostBinary is crmplan-host, which the hosts' mesh nodes run as their
// agent: found like receptor (receptorBinary).
func hostBinary(bins Binaries) (string, error) {
	return besideToolchain(bins, bins.Host, "crmplan-host", "--host-bin", "CRMPLAN_HOST_BIN")
}

// receptorBinary is the Receptor binary the hosts' mesh nodes run.
func receptorBinary(bins Binaries) (string, error) {
	return besideToolchain(bins, bins.Receptor, "receptor", "--receptor", "CRMPLAN_RECEPTOR")
}

// besideToolchain finds name as findSibling does, then beside pulumi:
// make build puts every binary in bin/, and a crmplan built elsewhere (go
// build, tests) still finds the toolchain's.
func besideToolchain(bins Binaries, given, name, flag, env string) (string, error) {
	path, err := findSibling(bins.Self, given, name, flag, env)
	if err != nil {
		alt := filepath.Join(filepath.Dir(bins.Pulumi), name)
		if _, serr := findSibling(alt, alt, name, flag, env); serr != nil {
			return "", err
		}
		path = alt
	}
	return path, nil
}
