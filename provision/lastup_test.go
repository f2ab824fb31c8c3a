package provision

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/watchdog"
	"github.com/crmplan/crmplan/topology"
)

// simplecrmInput is the program input of examples/simplecrm.yaml as apply
// reads it, from the plan file's bytes.
func simplecrmInput(t *testing.T, plan []byte) programInput {
	t.Helper()
	p, err := topology.DecodePlan("simplecrm.yaml", plan)
	if err != nil {
		t.Fatal(err)
	}
	laid, err := topology.Lay(p)
	if err != nil {
		t.Fatal(err)
	}
	db := laid.Estimate.Database
	l, err := NewLayout(LayoutInput{Paths: stackdir.Paths{StateDir: "/s", Stack: p.Name}, Topology: laid.Topology,
		Settings: db.Settings, BulkLoad: db.BulkLoad(), Replication: topology.Async, Records: 1000, Users: 10, Pools: map[topology.Role]int{topology.RoleAPI: db.PoolPerAppServer}})
	if err != nil {
		t.Fatal(err)
	}
	return programInput{
		Layout:     l,
		Bins:       map[string]string{"crmplan": "/bin/crmplan", "crm": "/bin/crm", "receptor": "/bin/receptor", "pulumi": "/bin/pulumi"},
		Digests:    map[string]string{"crmplan": "aa", "crm": "bb", "receptor": "cc", "pulumi": "dd"},
		CrmVersion: "bb",
		Instances:  laid.Instances(),
	}
}

// TestProgramInputs changes one thing the program is made from at a time:
// each must change the fingerprint, in the part it names.
func TestProgramInputs(t *testing.T) {
	plan, err := os.ReadFile("../examples/simplecrm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base, err := programInputs(simplecrmInput(t, plan))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*programInput)
		part   string
	}{
		{"a host's address", func(in *programInput) { in.Layout.Hosts[1].Address = "127.10.2.99" }, "layout"},
		{"a PostgreSQL setting", func(in *programInput) { in.Layout.PGSettings["work_mem"] = "8MB" }, "layout"},
		{"records to seed", func(in *programInput) { in.Layout.Records = 25_000_000 }, "layout"},
		{"--install-packages", func(in *programInput) { in.Layout.InstallPackages = true }, "layout"},
		{"the target", func(in *programInput) { in.Layout.Target = "ssh" }, "layout"},
		{"a failover record", func(in *programInput) {
			in.Layout.Promotion = &watchdog.Promotion{Promoted: "db-replica-1", Retired: "db-primary-1"}
		}, "layout"},
		{"a web certificate", func(in *programInput) { in.Layout.WebCerts = map[string]certKey{"web-1": {Cert: "c", Key: "k"}} }, "layout"},
		{"the relay's public address", func(in *programInput) { in.Layout.RelayPublic = "203.0.113.7" }, "layout"},
		{"the crm build", func(in *programInput) { in.Digests["crm"] = "b2" }, "binary crm"},
		{"the crmplan build (provider)", func(in *programInput) { in.Digests["crmplan"] = "a2" }, "binary crmplan"},
		{"the crmplan-host build (agent, supervisor)", func(in *programInput) { in.Digests["crmplan-host"] = "e2" }, "binary crmplan-host"},
		{"the receptor build", func(in *programInput) { in.Digests["receptor"] = "c2" }, "binary receptor"},
		{"the pulumi build", func(in *programInput) { in.Digests["pulumi"] = "d2" }, "binary pulumi"},
		{"where crm is", func(in *programInput) { in.Bins["crm"] = "/opt/crm" }, "binaries"},
		{"the crm version", func(in *programInput) { in.CrmVersion = "b3" }, "crm version"},
		{"a VPN peer", func(in *programInput) { in.VPN = []byte(`{"clients":[{"name":"laptop"}]}`) }, "vpn"},
		{"the ssh machines", func(in *programInput) { in.Machines = []byte(`{"Machines":{"web-1":{"Address":"10.0.0.2"}}}`) }, "machines"},
		{"an instance type", func(in *programInput) { in.Instances[topology.RoleAPI] = "m5.xlarge" }, "instances"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := simplecrmInput(t, plan)
			tt.change(&in)
			got, err := programInputs(in)
			if err != nil {
				t.Fatal(err)
			}
			why := (&lastUp{Inputs: base}).changed(got, nil)
			if want := "changed since the last up: " + tt.part; why != want {
				t.Errorf("changed = %q, want %q", why, want)
			}
		})
	}
}

// TestProgramInputsIgnorePresentation: the plan file's whitespace,
// comments and key order, and the order maps were filled in, are not
// inputs of the program.
func TestProgramInputsIgnorePresentation(t *testing.T) {
	plan, err := os.ReadFile("../examples/simplecrm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Another file for the same plan: its comments gone, flow mappings
	// written as blocks and the other way round, keys in another order,
	// blank lines and trailing spaces.
	other := string(plan)
	for old, new := range map[string]string{
		"  mix: {list: 34%, view: 34%, write: 15%, report: 5%, integration: 10%, marketing: 2%}": "  mix:\n    marketing: 2%\n    integration: 10%\n    report: 5%\n\n    write: 15%\n    view: 34%\n    list: 34%",
		"slo:\n  p95_ms: 500\n  error_rate: 1%":                                                  "slo: {error_rate: 1%,   p95_ms: 500}   ",
		"  - {name: dmz, kind: dmz, cidr: 127.10.1.0/24}":                                        "  - cidr: 127.10.1.0/24\n    kind: dmz\n    name: dmz",
		"  - role: web\n    zone: dmz":                                                           "  - zone: dmz\n    role: web   ",
	} {
		if !strings.Contains(other, old) {
			t.Fatalf("examples/simplecrm.yaml no longer has %q: update the test", old)
		}
		other = strings.Replace(other, old, new, 1)
	}
	var kept []string
	for line := range strings.Lines(other) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	other = strings.Join(kept, "")
	a, err := programInputs(simplecrmInput(t, plan))
	if err != nil {
		t.Fatal(err)
	}
	b, err := programInputs(simplecrmInput(t, []byte(other)))
	if err != nil {
		t.Fatal(err)
	}
	if why := (&lastUp{Inputs: a}).changed(b, nil); why != "" {
		t.Errorf("the same plan reformatted: %s", why)
	}
	// The same settings filled in another order.
	in := simplecrmInput(t, plan)
	reordered := map[string]string{}
	keys := sortedKeys(in.Layout.PGSettings)
	for i := len(keys) - 1; i >= 0; i-- {
		reordered[keys[i]] = in.Layout.PGSettings[keys[i]]
	}
	in.Layout.PGSettings = reordered
	c, err := programInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	if why := (&lastUp{Inputs: a}).changed(c, nil); why != "" {
		t.Errorf("settings filled in another order: %s", why)
	}
}

// TestLastUp walks the record through what happens to a stack: an up
// recorded, the same inputs again, a state written by something else, and
// an up killed halfway (the record forgotten before it began).
func TestLastUp(t *testing.T) {
	paths := stackdir.Paths{StateDir: t.TempDir(), Stack: "crm"}
	if err := os.MkdirAll(paths.StackDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inputs := map[string]string{"layout": "1", "binary crm": "2"}
	if why := loadLastUp(paths).changed(inputs, nil); why != "no record of an up that completed" {
		t.Errorf("before any up: %q", why)
	}
	write(paths.Checkpoint(projectName), `{"version":3,"checkpoint":{"stack":"crm"}}`)
	write(paths.Inventory(), `{"stack":"crm"}`)
	write(paths.Passphrase(), "secret\n")
	at := time.Now()
	if err := recordUp(paths, inputs); err != nil {
		t.Fatal(err)
	}
	files, err := stackFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	rec := loadLastUp(paths)
	if rec == nil || rec.At.Before(at.Add(-time.Second)) {
		t.Fatalf("record after the up: %+v", rec)
	}
	if why := rec.changed(map[string]string{"binary crm": "2", "layout": "1"}, files); why != "" {
		t.Errorf("same inputs, same stack: %q, want nothing to do", why)
	}
	if why := rec.changed(map[string]string{"layout": "1"}, files); why != "changed since the last up: binary crm" {
		t.Errorf("an input gone: %q", why)
	}
	for _, path := range []string{paths.Checkpoint(projectName), paths.Inventory(), paths.Passphrase()} {
		old, _ := os.ReadFile(path)
		write(path, string(old)+" ")
		now, err := stackFiles(paths)
		if err != nil {
			t.Fatal(err)
		}
		if why := rec.changed(inputs, now); why != "the stack's state changed since crmplan's last up" {
			t.Errorf("%s written since: %q", filepath.Base(path), why)
		}
		write(path, string(old))
	}
	write(paths.Checkpoint(projectName)+".gz", "gzipped state")
	if now, _ := stackFiles(paths); rec.changed(inputs, now) == "" {
		t.Errorf("a gzipped state appeared: nothing to do, want an up")
	}
	_ = os.Remove(paths.Checkpoint(projectName) + ".gz")

	// An up begins (the record is forgotten first) and is killed: the
	// state it half wrote is recorded by nobody, and the next apply runs.
	if err := forgetLastUp(paths); err != nil {
		t.Fatal(err)
	}
	write(paths.Checkpoint(projectName), `{"version":3,"checkpoint":{"stack":"crm","latest":"half"}}`)
	now, _ := stackFiles(paths)
	if why := loadLastUp(paths).changed(inputs, now); why != "no record of an up that completed" {
		t.Errorf("after an up killed halfway: %q", why)
	}
	if err := forgetLastUp(paths); err != nil {
		t.Errorf("forget twice: %v", err)
	}
	// A damaged record is no record.
	write(paths.LastUp(), "{")
	if loadLastUp(paths) != nil {
		t.Errorf("a damaged record was read")
	}
}

// TestDigests: a cached digest is used while the file is the one read,
// and a file rewritten in place with its modification time put back is
// read again (its change time moved).
func TestDigests(t *testing.T) {
	paths := stackdir.Paths{StateDir: t.TempDir(), Stack: "crm"}
	bin := filepath.Join(t.TempDir(), "crm")
	if err := os.WriteFile(bin, []byte("build one"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := loadDigests(paths)
	d.settle = -time.Hour // the file is new: keep its digest anyway
	first, err := d.sha256(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.save(paths); err != nil {
		t.Fatal(err)
	}
	d = loadDigests(paths)
	e, ok := d.by[bin]
	if !ok || e.SHA256 != first {
		t.Fatalf("cache after save: %+v", d.by)
	}
	// Proof that the cache answers: a made-up digest comes back.
	e.SHA256 = "cached"
	d.by[bin] = e
	if got, _ := d.sha256(bin); got != "cached" {
		t.Errorf("unchanged file: %q, want the cached digest", got)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(bin, []byte("build two"), 0o755); err != nil { // same size
		t.Fatal(err)
	}
	if err := os.Chtimes(bin, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	second, err := d.sha256(bin)
	if err != nil {
		t.Fatal(err)
	}
	if second == "cached" || second == first {
		t.Errorf("rewritten file: %q, want a new digest", second)
	}
	// A file whose times are recent is not cached: a write in the same
	// clock tick would go unseen.
	d = loadDigests(paths)
	d.by = map[string]digestEntry{}
	if _, err := d.sha256(bin); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.by[bin]; ok {
		t.Errorf("a file written just now was cached")
	}
}

// TestUnchangedSaysWhy is the line a skipped apply prints.
func TestUnchangedSaysWhy(t *testing.T) {
	u := Unchanged{Since: time.Date(2026, 12, 6, 23, 10, 0, 0, time.UTC), HostsChecked: 10}
	var b bytes.Buffer
	b.WriteString(u.String())
	if want := "inputs unchanged since 2026-12-06T23:10:00Z, 10 hosts checked"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}
