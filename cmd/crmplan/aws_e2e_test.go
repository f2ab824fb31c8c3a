package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/vishvananda/netlink"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/aws"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
	"github.com/crmplan/crmplan/provision/target/netns"
	"github.com/crmplan/crmplan/topology"
)

// TestApplyAWSCloudInit deploys seed 000 onto stand-ins for the EC2
// instances of `apply --target aws`, as far as this machine can go without
// AWS: the pulumi-aws program runs under Pulumi's mocks (the relay's
// Elastic IP is its namespace's address), and each instance's user data
// it generated is executed the way cloud-init would, inside a network
// namespace at the instance's private address in 10.236.0.0/16 (the VPC).
// The namespaces' router lets through exactly the program's security-group
// ingress rules, group by group. Then the deployment that apply runs once
// the instances are up (provision.DeployAWS, the shared Apply) forms the
// mesh through the relay and deploys PostgreSQL, the replica and the
// roles; crmplan status and probe answer; crmplan destroy stops it all.
//
// Cloud-init itself is not run (there is no cloud-init or systemd here):
// write_files are written, runcmd's commands are run in the instance's
// namespace, and `systemctl enable --now` runs the unit's ExecStart with its
// Environment there. The instances share this machine's filesystem, as the
// ssh rig's machines do: the node files' paths are the controller's own.
func TestApplyAWSCloudInit(t *testing.T) {
	e, plan, laid := newMachinesEnv(t, "the instances' stand-ins")
	vpc := mustPrefix("10.236.0.0/16")
	// Nothing of the VPC's range leaves this machine: a blackhole covers
	// it before any namespace exists; the DMZ's /24 is then routed into
	// the stand-ins' router and the LAN's is unreachable (netns).
	blackhole := netlink.Route{Dst: &net.IPNet{IP: vpc.Addr().AsSlice(), Mask: net.CIDRMask(vpc.Bits(), 32)}, Type: unix.RTN_BLACKHOLE, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC, Priority: 4236}
	if err := netlink.RouteReplace(&blackhole); err != nil {
		t.Fatalf("blackhole %s: %v", vpc, err)
	}
	t.Cleanup(func() { _ = netlink.RouteDel(&blackhole) })

	var progress bytes.Buffer
	t.Cleanup(func() { t.Logf("deployment:\n%s", progress.String()) })
	req := provision.Request{StateDir: e.stateDir, Records: 500, Users: 10, Out: &progress}
	if _, err := planRequest(&req, plan); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Dir(e.crmplan)
	receptor, _ := filepath.Abs("../../bin/receptor")
	req.Bins = provision.Binaries{Self: e.crmplan, Pulumi: e.args[3], Crm: filepath.Join(bin, "crm"), Receptor: receptor}
	const controller = "203.0.113.7/32" // this machine, as AWS would see it
	n, opts, err := provision.PrepareAWS(provision.AWSRequest{StateDir: e.stateDir, Stack: req.Stack, Laid: laid, Bins: req.Bins,
		Options: aws.Options{Region: "rig-1", AMI: "ami-rig", VPCCIDR: vpc.String(), ControllerCIDR: controller,
			ReceptorBin: receptor, AgentBin: filepath.Join(bin, "crmplan-host")}})
	if err != nil {
		t.Fatal(err)
	}
	relayIP := strings.Split(n.RelayAddr, ":")[0]
	paths := stackdir.Paths{StateDir: e.stateDir, Stack: req.Stack}

	// The instances: a namespace each, at its private address.
	instances := netns.Target{Stack: paths.HostsDir(), Policy: securityGroups(t, n, controller)}
	for _, z := range n.Topology(laid.Topology).Zones {
		instances.Zones = append(instances.Zones, netns.Zone{Name: z.Name, CIDR: mustPrefix(z.CIDR), Outside: z.Kind == topology.DMZ})
	}
	if err := instances.CheckRange("dmz", instances.Zones[0].CIDR); err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
	t.Cleanup(func() {
		if err := instances.DestroyStack(context.Background()); err != nil {
			t.Errorf("instances: %v", err)
		}
	})
	hosts := map[string]target.Host{}
	for _, h := range n.Topology(laid.Topology).Hosts {
		zone := ""
		for _, z := range instances.Zones {
			if z.Name == h.Zone {
				zone = z.CIDR.String()
			}
		}
		th := target.Host{Name: h.Name, Zone: h.Zone, CIDR: zone, Address: h.Address, Dir: paths.HostDir(h.Name)}
		if err := instances.Create(context.Background(), th); err != nil {
			t.Fatalf("instance %s: %v", h.Name, err)
		}
		hosts[h.Name] = th
	}

	// The program's user data, as AWS would be given it.
	ud := &userDataMocks{publicIP: relayIP, m: map[string]string{}}
	if err := pulumi.RunErr(aws.Program(n, opts), pulumi.WithMocks("crmplan", req.Stack+"-aws", ud)); err != nil {
		t.Fatal(err)
	}
	var nodes []*exec.Cmd
	t.Cleanup(func() {
		for _, c := range nodes {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			_ = c.Wait()
		}
	})
	for _, h := range n.Hosts {
		ns, err := instances.Namespace(hosts[h.Name])
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, cloudInit(t, ns, h.Name, ud.m[h.Name])...)
	}

	began := time.Now()
	res, err := provision.DeployAWS(context.Background(), req, n, opts, relayIP)
	if err != nil {
		t.Fatalf("deploy onto the instances: %v", err)
	}
	t.Logf("deployment onto the instances through the relay at %s: %.1fs, %v", relayIP, time.Since(began).Seconds(), res.Changes)
	if res.Inventory.Target != "aws" {
		t.Errorf("inventory target %q, want aws", res.Inventory.Target)
	}

	var st provision.Status
	e.json(&st, "status", "--stack", req.Stack)
	for _, h := range st.Hosts {
		if !h.Healthy || !vpc.Contains(netip.MustParseAddr(h.Address)) {
			t.Errorf("status: %s at %s healthy %v (%s)", h.Name, h.Address, h.Healthy, h.Health)
		}
	}
	if len(st.Hosts) != len(n.Hosts) {
		t.Errorf("status reports %d hosts, want %d", len(st.Hosts), len(n.Hosts))
	}
	probeAsPlanned(t, e, plan)

	if out, err := e.exec("destroy", "--stack", req.Stack, "--yes"); err != nil {
		t.Fatalf("crmplan destroy: %v\n%s", err, out)
	}
	// The roles are gone; what still runs on the instances is their
	// receptor units, which the aws stack's destroy terminates with them.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(e.stateDir)) || bytes.HasPrefix(b, []byte(receptor+"\x00")) {
			continue
		}
		if bytes.Contains(b, []byte("nsenter\x00")) {
			continue // cloudInit's own entry into the namespace
		}
		t.Errorf("process %s still runs on an instance after destroy: %s", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
	}
	for _, c := range nodes {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	time.Sleep(200 * time.Millisecond)
	checkNothingLeftLocally(t, e.stateDir)
}

// securityGroups is the router policy of the program's ingress rules: a
// rule from a group admits each of its instances, the internet and the
// controller's range are this machine (the only one outside the VPC).
// Egress is open on AWS; here only what a rule admits gets through.
func securityGroups(t *testing.T, n aws.Network, controller string) []netns.Rule {
	t.Helper()
	members := map[string][]netip.Addr{}
	for _, h := range n.Hosts {
		for _, g := range h.Groups {
			members[g] = append(members[g], netip.MustParseAddr(h.PrivateIP))
		}
	}
	var rules []netns.Rule
	for _, r := range n.Rules {
		var from []netip.Prefix
		switch {
		case r.From != "":
			for _, a := range members[r.From] {
				from = append(from, netip.PrefixFrom(a, 32))
			}
		case r.CIDR == aws.Internet || r.CIDR == controller:
			from = []netip.Prefix{{}}
		default:
			t.Fatalf("rule %s admits %s, which is neither a group, the internet nor the controller", r.Name(), r.CIDR)
		}
		for _, to := range members[r.To] {
			for _, f := range from {
				rules = append(rules, netns.Rule{From: f, To: to, Port: uint16(r.Port)})
			}
		}
	}
	return rules
}

// userDataMocks stands in for the engine and the aws provider: it gives
// the Elastic IPs publicIP and records each instance's user data.
type userDataMocks struct {
	publicIP string
	mu       sync.Mutex
	m        map[string]string // host -> cloud-config
}

func (u *userDataMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	state := args.Inputs.Copy()
	switch args.TypeToken {
	case "aws:ec2/eip:Eip":
		state["publicIp"] = resource.NewStringProperty(u.publicIP)
	case "aws:ec2/instance:Instance":
		v := args.Inputs["userData"]
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		u.mu.Lock()
		u.m[args.Inputs["tags"].ObjectValue()["Name"].StringValue()] = v.StringValue()
		u.mu.Unlock()
	}
	return args.Name + "-id", state, nil
}

func (u *userDataMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// cloudInit executes host's cloud-config in namespace ns as cloud-init's
// write_files and runcmd modules would, and returns the processes its
// systemd units started. Files for systemd (/etc/systemd/system/UNIT) are
// kept here rather than written to this machine's /etc; the others are
// the host's own, on the shared filesystem.
func cloudInit(t *testing.T, ns, host, cloudConfig string) []*exec.Cmd {
	t.Helper()
	if !strings.HasPrefix(cloudConfig, "#cloud-config\n") {
		t.Fatalf("%s: user data is not a cloud-config:\n%s", host, cloudConfig)
	}
	var doc struct {
		WriteFiles []struct{ Path, Content, Encoding, Permissions string } `yaml:"write_files"`
		Runcmd     [][]string                                              `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal([]byte(cloudConfig), &doc); err != nil {
		t.Fatalf("%s: user data: %v", host, err)
	}
	units := map[string]string{}
	for _, f := range doc.WriteFiles {
		content := []byte(f.Content)
		if f.Encoding == "b64" {
			var err error
			if content, err = base64.StdEncoding.DecodeString(f.Content); err != nil {
				t.Fatalf("%s: %s: %v", host, f.Path, err)
			}
		}
		if dir, name := filepath.Split(f.Path); dir == "/etc/systemd/system/" {
			units[name] = string(content)
			continue
		}
		mode := uint64(0o644)
		if f.Permissions != "" {
			var err error
			if mode, err = strconv.ParseUint(f.Permissions, 8, 32); err != nil {
				t.Fatalf("%s: %s: permissions %q", host, f.Path, f.Permissions)
			}
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.Path, content, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
	}
	var started []*exec.Cmd
	for _, argv := range doc.Runcmd {
		if argv[0] != "systemctl" {
			if out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, argv...)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: runcmd %q: %v\n%s", host, argv, err, out)
			}
			continue
		}
		if slices.Equal(argv[1:], []string{"daemon-reload"}) {
			continue
		}
		if len(argv) != 4 || argv[1] != "enable" || argv[2] != "--now" || units[argv[3]] == "" {
			t.Fatalf("%s: runcmd %q: not a unit this stand-in knows", host, argv)
		}
		started = append(started, startUnit(t, ns, host, units[argv[3]]))
	}
	if len(started) == 0 {
		t.Fatalf("%s: the user data starts no node:\n%s", host, cloudConfig)
	}
	return started
}

// startUnit runs a systemd unit's ExecStart, with its Environment, in
// namespace ns: its own process group, its output in the test's log dir.
func startUnit(t *testing.T, ns, host, unit string) *exec.Cmd {
	t.Helper()
	var execStart []string
	env := os.Environ()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(v)
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			env = append(env, v)
		}
	}
	if len(execStart) == 0 {
		t.Fatalf("%s: unit without ExecStart:\n%s", host, unit)
	}
	log, err := os.Create(filepath.Join(t.TempDir(), host+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, execStart...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s's node:\n%s", host, b)
		}
	})
	return cmd
}
