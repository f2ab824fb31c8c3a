package terraform

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// InventoryRequest says where an applied export is and how its machines
// are logged in to: the parts of the inventory Terraform does not know.
type InventoryRequest struct {
	Dir       string // the export's directory, where terraform apply ran
	Terraform string // the terraform binary
	// Plan, when set, is the plan the export was made from: its name and
	// every one of its hosts must be in the outputs.
	Plan *topology.Laid
	User string // the login user of every machine; empty: root
	// Via is the DMZ host LAN machines are reached through; empty: the
	// first DMZ host of the plan (the mesh's relay), or without a plan
	// the first of the export by name.
	Via        string
	Key        string // written as given, ~ and all; empty: the SSH agent
	KnownHosts string // written as given; required
}

// exported is the value of InventoryOutput.
type exported struct {
	Plan  string                  `json:"plan"`
	Hosts map[string]exportedHost `json:"hosts"`
}

type exportedHost struct {
	Zone      string `json:"zone"`
	ZoneKind  string `json:"zone_kind"`
	PrivateIP string `json:"private_ip"`
	PublicIP  string `json:"public_ip"`
}

// ReadInventory reads `terraform output -json` in an applied export's
// directory (through terraform-exec) and makes the inventory of the ssh
// target from it: a DMZ machine at its public address, dialled directly,
// with its private address beside it (private:), where its roles listen
// and the other machines (the mesh's nodes among them) reach it; every
// other one at its private address, reached through a DMZ machine (via:),
// which is the only way into a VPC's private subnets.
func ReadInventory(ctx context.Context, req InventoryRequest) (*ssh.Inventory, error) {
	if req.KnownHosts == "" {
		return nil, crmplan.Errorf(crmplan.EINVALID, "known_hosts is required: unknown host keys are refused").In("--known-hosts").
			Try("--known-hosts ~/.ssh/known_hosts (ssh-keyscan the machines' addresses into it, after checking the keys)")
	}
	tf, err := tfexec.NewTerraform(req.Dir, req.Terraform)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "%w", err).In("--from-terraform")
	}
	outputs, err := tf.Output(ctx)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "terraform output -json: %w", err).In(req.Dir).
			Try("cd %s && terraform output -json", req.Dir)
	}
	if len(outputs) == 0 {
		return nil, crmplan.Errorf(crmplan.ENOTFOUND, "%s has no outputs: no export was applied there", req.Dir).In("--from-terraform").
			Try("cd %s && terraform init && terraform apply -var ami=AMI-ID -var operator_cidr=YOUR-IP/32", req.Dir)
	}
	out, ok := outputs[InventoryOutput]
	if !ok {
		return nil, crmplan.Errorf(crmplan.ENOTFOUND, "%s's state has no output %s (it has %s): the module was exported by an older crmplan, or not by crmplan",
			req.Dir, InventoryOutput, strings.Join(outputNames(outputs), ", ")).In("--from-terraform").
			Try("crmplan export --plan PLAN.yaml --out %s && cd %s && terraform apply -var ami=AMI-ID -var operator_cidr=YOUR-IP/32", req.Dir, req.Dir)
	}
	var ex exported
	if err := json.Unmarshal(out.Value, &ex); err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "output %s is not what crmplan export writes: %w", InventoryOutput, err).In(req.Dir).
			Try("crmplan export --plan PLAN.yaml --out %s, then terraform apply", req.Dir)
	}
	if err := ex.check(req); err != nil {
		return nil, err
	}
	return ex.inventory(req)
}

func outputNames(outputs map[string]tfexec.OutputMeta) []string {
	names := make([]string, 0, len(outputs))
	for n := range outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// check refuses outputs of another plan, or without a host of the plan.
func (ex exported) check(req InventoryRequest) error {
	if req.Plan == nil {
		return nil
	}
	if ex.Plan != req.Plan.Plan.Name {
		return crmplan.Errorf(crmplan.EINVALID, "%s holds an export of plan %q, not of %q", req.Dir, ex.Plan, req.Plan.Plan.Name).In("--plan").
			Try("crmplan export --plan PLAN.yaml --out %s for this plan, or the plan file of %q", req.Dir, ex.Plan)
	}
	for _, h := range req.Plan.Topology.Hosts {
		if _, ok := ex.Hosts[h.Name]; !ok && h.Role != topology.RoleVPN { // the export makes no vpn instance (vpnSkipped)
			return crmplan.Errorf(crmplan.ENOTFOUND, "host %s of the plan has no machine in %s's outputs: the plan changed since the export", h.Name, req.Dir).In(h.Name).
				Try("crmplan export --plan PLAN.yaml --out %s && cd %s && terraform apply -var ami=AMI-ID -var operator_cidr=YOUR-IP/32", req.Dir, req.Dir)
		}
	}
	return nil
}

func (ex exported) inventory(req InventoryRequest) (*ssh.Inventory, error) {
	names := make([]string, 0, len(ex.Hosts))
	for n := range ex.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	via := req.Via
	if via == "" {
		// The first DMZ host in the plan's order, as the mesh picks its
		// relay, so that a DMZ role added later in the plan (seed 000's
		// marketing server) does not become every LAN machine's way in.
		order := names
		if req.Plan != nil {
			order = nil
			for _, h := range req.Plan.Topology.Hosts {
				order = append(order, h.Name)
			}
		}
		for _, n := range order {
			if ex.Hosts[n].ZoneKind == string(topology.DMZ) {
				via = n
				break
			}
		}
	} else if h, ok := ex.Hosts[via]; !ok || h.ZoneKind != string(topology.DMZ) {
		return nil, crmplan.Errorf(crmplan.EINVALID, "%s is no DMZ host of the export", via).In("--via").
			Try("--via one of the DMZ hosts: %s", strings.Join(ex.dmz(names), ", "))
	}
	inv := &ssh.Inventory{File: "machines.yaml", Machines: map[string]ssh.Machine{}, Key: req.Key, KnownHosts: req.KnownHosts}
	for _, n := range names {
		h := ex.Hosts[n]
		m := ssh.Machine{Name: n, User: req.User, Port: 22, Address: h.PrivateIP}
		if m.User == "" {
			m.User = "root"
		}
		switch {
		case h.ZoneKind == string(topology.DMZ) && h.PublicIP != "":
			// Dialled from here at its public address, which AWS
			// translates; its interface, its roles and the other
			// instances know it by the private one.
			m.Address, m.Private = h.PublicIP, h.PrivateIP
			if _, err := netip.ParseAddr(m.Private); err != nil {
				return nil, crmplan.Errorf(crmplan.EINVALID, "host %s has private address %q in output %s: %v", n, m.Private, InventoryOutput, err).In(req.Dir).
					Try("cd %s && terraform refresh && terraform output %s", req.Dir, InventoryOutput)
			}
		case h.ZoneKind != string(topology.DMZ) && via != "":
			m.Via = via
		}
		if _, err := netip.ParseAddr(m.Address); err != nil {
			return nil, crmplan.Errorf(crmplan.EINVALID, "host %s has address %q in output %s: %v", n, m.Address, InventoryOutput, err).In(req.Dir).
				Try("cd %s && terraform refresh && terraform output %s", req.Dir, InventoryOutput)
		}
		inv.Machines[n] = m
	}
	return inv, nil
}

func (ex exported) dmz(names []string) []string {
	var out []string
	for _, n := range names {
		if ex.Hosts[n].ZoneKind == string(topology.DMZ) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []string{"(none: the plan has no DMZ)"}
	}
	return out
}

// InventoryHead is the comment above an inventory written from dir.
func InventoryHead(dir string) string {
	return fmt.Sprintf("machines.yaml: written by crmplan inventory --from-terraform %s\n"+
		"DMZ machines at their public address (private: the VPC's), the others through a DMZ one (via:).", dir)
}
