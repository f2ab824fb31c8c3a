package provision

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan/provision/aws"
)

// userDataOf records each EC2 instance's user data as the program asks
// AWS for it.
type userDataOf struct {
	mu sync.Mutex
	m  map[string]string // host -> cloud-init
}

func (u *userDataOf) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	state := args.Inputs
	if args.TypeToken == "aws:ec2/eip:Eip" {
		state = args.Inputs.Copy()
		state["publicIp"] = resource.NewStringProperty(relayPublic)
	}
	if args.TypeToken == "aws:ec2/instance:Instance" {
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

// relayPublic is the Elastic IP the mock engine gives the relay.
const relayPublic = "198.51.100.10"

func (u *userDataOf) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// TestAWSNodeFiles prepares the real mesh of seed 000 on its AWS addresses
// and runs the program with it: every host's cloud-init writes its own
// node's config, certificate and key and the stack's CA, and the config
// dials the relay at its private address (the relay's listens there).
func TestAWSNodeFiles(t *testing.T) {
	receptor, err := filepath.Abs("../bin/receptor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(receptor); err != nil {
		t.Skipf("no receptor at %s: run make bin/receptor", receptor)
	}
	l := laidExample(t, "simplecrm.yaml")
	opts := aws.Options{Region: "eu-west-1", AMI: "ami-0123456789abcdef0", ControllerCIDR: "203.0.113.7/32"}
	n, err := aws.Lay(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	n, opts, err = PrepareAWS(AWSRequest{StateDir: stateDir, Stack: "simplecrm", Laid: l, Options: opts,
		Bins: Binaries{Receptor: receptor}})
	if err != nil {
		t.Fatal(err)
	}
	u := &userDataOf{m: map[string]string{}}
	if err := pulumi.RunErr(aws.Program(n, opts), pulumi.WithMocks("crmplan", "simplecrm-aws", u)); err != nil {
		t.Fatal(err)
	}
	if len(u.m) != len(n.Hosts) {
		t.Fatalf("user data for %d instances, want %d", len(u.m), len(n.Hosts))
	}
	relayIP := strings.Split(n.RelayAddr, ":")[0]
	for _, h := range n.Hosts {
		var doc struct {
			WriteFiles []struct{ Path, Content, Encoding string } `yaml:"write_files"`
		}
		ud := u.m[h.Name]
		if err := yaml.Unmarshal([]byte(ud), &doc); err != nil {
			t.Fatalf("%s: user data is not YAML: %v\n%s", h.Name, err, ud)
		}
		files := map[string]string{}
		for _, f := range doc.WriteFiles {
			content := f.Content
			if f.Encoding == "b64" {
				b, err := base64.StdEncoding.DecodeString(f.Content)
				if err != nil {
					t.Fatal(err)
				}
				content = string(b)
			}
			files[filepath.Base(f.Path)] = content
		}
		for _, want := range []string{"receptor.yaml", "node.crt", "node.key", "ca.crt", "work.pub", "crmplan-receptor.service"} {
			if files[want] == "" {
				t.Errorf("%s: cloud-init writes no %s", h.Name, want)
			}
		}
		cfg := files["receptor.yaml"]
		if !strings.Contains(cfg, "id: "+h.Name) {
			t.Errorf("%s: the config is another node's:\n%s", h.Name, cfg)
		}
		if h.Name == n.Relay {
			if !strings.Contains(cfg, "tcp-listener") || !strings.Contains(cfg, "bindaddr: "+relayIP) {
				t.Errorf("relay %s does not listen on %s:\n%s", h.Name, relayIP, cfg)
			}
		} else if !strings.Contains(cfg, "address: "+n.RelayAddr) {
			t.Errorf("%s does not dial the relay at %s:\n%s", h.Name, n.RelayAddr, cfg)
		}
		// Its work runs the agent where runcmd links the AMI's crmplan.
		if agent := filepath.Join(stateDir, "simplecrm", "hosts", h.Name, "bin", "crmplan-host"); !strings.Contains(cfg, "command: "+agent) {
			t.Errorf("%s: the node's work is not the agent at %s:\n%s", h.Name, agent, cfg)
		}
		// The relay's certificate names the address the controller dials.
		if h.Name == n.Relay {
			block, _ := pem.Decode([]byte(files["node.crt"]))
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Contains(ips, relayPublic) || !slices.Contains(ips, relayIP) {
				t.Errorf("relay certificate names %v, want its private %s and public %s", ips, relayIP, relayPublic)
			}
		}
	}
}
