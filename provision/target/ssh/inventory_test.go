package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan"
)

// issueExample is the inventory exactly as issue 16 writes it.
const issueExample = `# machines.yaml
hosts:
  web-1: {address: 10.20.1.10, user: root, port: 22}
  api-1: {address: 10.20.2.10, user: root, via: web-1}   # reached through the DMZ host, as ProxyJump
ssh:
  key: ~/.ssh/id_ed25519          # or an agent via SSH_AUTH_SOCK
  known_hosts: ~/.ssh/known_hosts # required; unknown or changed host keys are refused
`

func TestParseInventoryIssueFormat(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory("machines.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Machine{
		"web-1": {Name: "web-1", Address: "10.20.1.10", User: "root", Port: 22},
		"api-1": {Name: "api-1", Address: "10.20.2.10", User: "root", Port: 22, Via: "web-1"},
	}
	for name, m := range want {
		if got := inv.Machines[name]; got != m {
			t.Errorf("machine %s = %+v, want %+v", name, got, m)
		}
	}
	if inv.Key != filepath.Join(home, ".ssh/id_ed25519") || inv.KnownHosts != filepath.Join(home, ".ssh/known_hosts") {
		t.Errorf("key %q, known_hosts %q: want them under %s", inv.Key, inv.KnownHosts, home)
	}
	route, err := inv.Route("api-1")
	if err != nil || len(route) != 2 || route[0].Name != "web-1" || route[1].Name != "api-1" {
		t.Errorf("Route(api-1) = %+v, %v; want web-1 then api-1", route, err)
	}
	if got := inv.Dir("crm", "api-1"); got != "/opt/crmplan/crm/api-1" {
		t.Errorf("Dir = %s, want the default /opt/crmplan/crm/api-1", got)
	}
	if err := inv.Check([]string{"web-1", "api-1"}); err != nil {
		t.Errorf("Check = %v", err)
	}
}

func TestParseInventoryErrors(t *testing.T) {
	const ssh = "ssh:\n  known_hosts: kh\n"
	tests := []struct {
		name, yaml string
		wantIn     string // the error's place
		wantMsg    string
	}{
		{"empty", "", "m.yaml", "empty"},
		{"not yaml", "hosts: [\n", "m.yaml:1", "not valid YAML"},
		{"no hosts", ssh, "m.yaml:1: hosts", "no machines"},
		{"unknown top key", "hosts:\n  web-1: {address: 10.0.0.1}\nmachines: {}\n" + ssh, "m.yaml:3: machines", "unknown key"},
		{"no address", "hosts:\n  web-1: {user: root}\n" + ssh, "m.yaml:2: hosts.web-1.address", "no address"},
		{"bad port", "hosts:\n  web-1: {address: 10.0.0.1, port: 70000}\n" + ssh, "m.yaml:2: hosts.web-1.port", "no TCP port"},
		{"unknown host key", "hosts:\n  web-1: {address: 10.0.0.1, proxy: x}\n" + ssh, "m.yaml:2: hosts.web-1.proxy", "unknown key"},
		{"private not an IP", "hosts:\n  web-1: {address: 203.0.113.10, private: ip-10-40-1-10}\n" + ssh, "m.yaml:2: hosts.web-1.private", "no IP address"},
		{"relative dir", "hosts:\n  web-1: {address: 10.0.0.1, dir: opt/x}\n" + ssh, "m.yaml:2: hosts.web-1.dir", "not an absolute"},
		{"via nowhere", "hosts:\n  api-1: {address: 10.0.0.2, via: web-9}\n" + ssh, "m.yaml:2: hosts.api-1.via", "no machine of the inventory"},
		{"via loop", "hosts:\n  a-1: {address: 10.0.0.1, via: b-1}\n  b-1: {address: 10.0.0.2, via: a-1}\n" + ssh, "m.yaml:2: hosts.a-1.via", "loop"},
		{"no ssh", "hosts:\n  web-1: {address: 10.0.0.1}\n", "m.yaml:1: ssh", "known_hosts is required"},
		{"no known_hosts", "hosts:\n  web-1: {address: 10.0.0.1}\nssh:\n  key: k\n", "m.yaml:4: ssh.known_hosts", "known_hosts is required"},
		{"bad host name", "hosts:\n  Web_1: {address: 10.0.0.1}\n" + ssh, "m.yaml:2: hosts.Web_1", "no host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInventory("m.yaml", []byte(tt.yaml))
			var e *crmplan.Error
			if err == nil || crmplan.ErrorCode(err) != crmplan.EINVALID {
				t.Fatalf("ParseInventory = %v, want an EINVALID error", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || crmplan.ErrorHint(err) == "" {
				t.Fatalf("ParseInventory = %v (Try: %q), want %q and a Try line", err, crmplan.ErrorHint(err), tt.wantMsg)
			}
			if e, _ = err.(*crmplan.Error); e == nil || !strings.HasPrefix(e.Field, tt.wantIn) {
				t.Fatalf("error placed at %q, want %q", e.Field, tt.wantIn)
			}
		})
	}
}

func TestInventoryCheck(t *testing.T) {
	inv, err := ParseInventory("m.yaml", []byte(issueExample))
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Check([]string{"web-1", "api-1", "db-1"}); err == nil || !strings.Contains(err.Error(), "db-1") {
		t.Errorf("Check with a host the inventory lacks = %v, want it named", err)
	}
	if err := inv.Check([]string{"web-1"}); err == nil || !strings.Contains(err.Error(), "api-1") {
		t.Errorf("Check with a machine the plan lacks = %v, want it named", err)
	}
}

// TestEncodeInventory: what Encode writes is the issue's format, and reads
// back as the same machines.
func TestEncodeInventory(t *testing.T) {
	inv := &Inventory{Machines: map[string]Machine{
		"web-1": {Name: "web-1", Address: "203.0.113.10", Private: "10.40.1.10", User: "root", Port: 22},
		"api-1": {Name: "api-1", Address: "10.40.2.10", User: "admin", Port: 2222, Via: "web-1", Dir: "/srv/crm"},
	}, Key: "~/.ssh/id ed25519", KnownHosts: "kh#1"}
	b, err := inv.Encode("machines.yaml: a test")
	if err != nil {
		t.Fatal(err)
	}
	want := `# machines.yaml: a test
hosts:
  web-1: {address: 203.0.113.10, private: 10.40.1.10, user: root}
  api-1: {address: 10.40.2.10, user: admin, port: 2222, via: web-1, dir: /srv/crm}
ssh:
  key: ~/.ssh/id ed25519
  known_hosts: kh#1
`
	if string(b) != want {
		t.Fatalf("Encode wrote\n%s\nwant\n%s", b, want)
	}
	back, err := ParseInventory("/etc/m.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range inv.Machines {
		if got := back.Machines[name]; got != m {
			t.Errorf("machine %s read back as %+v, want %+v", name, got, m)
		}
	}
	if back.KnownHosts != "/etc/kh#1" {
		t.Errorf("known_hosts read back as %q, want /etc/kh#1", back.KnownHosts)
	}
}
