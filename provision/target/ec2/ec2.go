// Package ec2 is the aws target's host adapter: the hosts are EC2
// instances that the pulumi-aws program (provision/aws) has made before
// the deployment starts, each with its Receptor node written and started
// by its cloud-init. What is left for a target to do is nothing but to
// take them as they are: the deployment then reaches every host through
// the mesh exactly as on the local, isolated and ssh targets.
//
// It makes no AWS call: the instances belong to the aws stack, whose
// refresh notices one that was terminated, and whose destroy removes them
// after the deployment's destroy has stopped the roles through the mesh.
package ec2

import (
	"context"
	"net/netip"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// Name is the target's name in flags and the inventory.
const Name = "aws"

// Target takes the instances of the aws stack as the stack's hosts.
type Target struct{}

var _ target.Target = Target{}

func (Target) Name() string { return Name }

// CheckRange refuses loopback ranges: an instance's address is its
// private address in the VPC.
func (Target) CheckRange(zone string, cidr netip.Prefix) error {
	if cidr.Addr().IsLoopback() {
		return crmplan.Errorf(crmplan.EINVALID, "zone %s's range %s is a loopback range: EC2 instances have their VPC subnet's addresses", zone, cidr).
			In("zone " + zone).Try("crmplan apply --target aws --vpc-cidr 10.40.0.0/16 --plan PLAN.yaml")
	}
	return nil
}

// Create has nothing to make: the aws stack launched the instance, and
// its cloud-init wrote and started the node. Whether it did is seen when
// the mesh forms (the controller names every host it does not reach).
func (Target) Create(context.Context, target.Host) error { return nil }

// Exists is true: the instances' existence is the aws stack's state, and
// a host whose node is gone is down in the mesh's routes and status.
func (Target) Exists(context.Context, target.Host) (bool, error) { return true, nil }

// Destroy leaves the instance to the aws stack's destroy.
func (Target) Destroy(context.Context, target.Host) error { return nil }

// Nodes is cloud-init's bootstrap, seen from the controller.
func (Target) Nodes(target.Host) target.NodeLauncher { return launcher{} }

// launcher starts nothing: the instance's systemd unit runs the node and
// restarts it, and this machine has no way to a host but the mesh.
type launcher struct{}

// Start succeeds at once; the mesh then waits for the node through the
// relay (a Remote mesh does not wait on the node's control socket).
func (launcher) Start(context.Context, target.Node) error { return nil }

// Running cannot be told from here, and says no: the mesh then "starts"
// the node (a no-op) and waits until the controller routes to it.
func (launcher) Running(target.Node) (int, bool) { return 0, false }

// SeenThroughMesh: status takes the controller's route to a node as its
// running.
func (launcher) SeenThroughMesh() {}

var _ target.MeshSeen = launcher{}

// Stop leaves the node to the instance, which the aws stack terminates.
func (launcher) Stop(target.Node) error { return nil }

// Kill is the chaos suite's power loss, which this target cannot cause.
func (launcher) Kill(n target.Node) error {
	return crmplan.Errorf(crmplan.EUNAVAILABLE, "the aws target cannot kill host %s's node from here (it is an EC2 instance's systemd unit)", n.ID).
		In("host " + n.ID).Try("crmplan verify --chaos on the local or isolated target")
}
