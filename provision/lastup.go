package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target/ec2"
	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// A no-change up of Pulumi costs its own floor plus a diff per resource,
// seconds for seed 000, to learn what apply can know for itself: every
// resource's Diff compares its inputs with the state's (and a Running that
// only a refresh changes). So when nothing that makes the program's inputs
// changed since an up that succeeded, nothing touched the stack's state
// since, and the hosts show no drift (what a refresh would find), the up
// has provably nothing to do. lastUp is the record of that up.
type lastUp struct {
	// Inputs are the SHA-256 of each thing the program was made from
	// (programInputs), taken before the up started: a file that changed
	// during the up leaves a record that no longer matches, which costs
	// an extra up, never a skipped one.
	Inputs map[string]string `json:"inputs"`
	// Stack are the SHA-256 of the stack's own files as the up left them
	// (stackFiles): anything else that writes the state (a destroy, an
	// up of another crmplan, pulumi by hand) makes them differ.
	Stack map[string]string `json:"stack"`
	At    time.Time         `json:"at"`
}

// programInput is what a stack's program and its up are made from, read
// by apply; programInputs fingerprints it without I/O.
type programInput struct {
	Layout Layout
	// Bins are the binaries' paths (resolved) and Digests their SHA-256,
	// by the same keys: crmplan (the provider plugin, the supervisor and
	// the hosts' agent), crm, receptor, pulumi.
	Bins    map[string]string
	Digests map[string]string
	// CrmVersion is what the program names the crm build.
	CrmVersion string
	// VPN is the stack's vpn.json (its peers), which the program reads.
	VPN []byte
	// Machines is the ssh target's inventory, which the provider's ssh
	// target reads from the stack's machines.json; nil on other targets.
	Machines []byte
	// Instances are the plan's instance types, which the inventory records.
	Instances map[topology.Role]string
}

// programInputs fingerprints in: one SHA-256 per part, so that apply can
// say which part changed. JSON encodes maps in key order, so neither the
// order a map was filled in nor the plan file's layout (whitespace,
// comments, key order) changes a part; only what the program receives.
func programInputs(in programInput) (map[string]string, error) {
	layout, err := json.Marshal(in.Layout)
	if err != nil {
		return nil, fmt.Errorf("fingerprint the layout: %w", err)
	}
	bins, err := json.Marshal(in.Bins)
	if err != nil {
		return nil, err
	}
	instances, err := json.Marshal(in.Instances)
	if err != nil {
		return nil, err
	}
	parts := map[string]string{
		"layout":      sum(layout),
		"binaries":    sum(bins),
		"crm version": sum([]byte(in.CrmVersion)),
		"vpn":         sum(in.VPN),
		"machines":    sum(in.Machines),
		"instances":   sum(instances),
	}
	for name, digest := range in.Digests {
		parts["binary "+name] = digest
	}
	return parts, nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readProgramInput reads what programInputs needs for layout, deployed
// with bins; the binaries' digests come from the stack's cache. The crm
// version is the caller's to fill in (from the crm digest).
func readProgramInput(paths stackdir.Paths, layout Layout, bins Binaries, instances map[topology.Role]string) (programInput, error) {
	in := programInput{Layout: layout, Instances: instances, Bins: map[string]string{}, Digests: map[string]string{}}
	receptor, err := receptorBinary(bins)
	if err != nil {
		receptor = "" // the program fails on it the same way: the up says so
	}
	agent, err := hostBinary(bins)
	if err != nil {
		agent = "" // likewise
	}
	cache := loadDigests(paths)
	for name, path := range map[string]string{"crmplan": bins.Self, "crmplan-host": agent, "crm": bins.Crm, "receptor": receptor, "pulumi": bins.Pulumi} {
		if path == "" {
			continue
		}
		digest, err := cache.sha256(path)
		if err != nil {
			return in, err
		}
		in.Bins[name], in.Digests[name] = path, digest
	}
	if err := cache.save(paths); err != nil {
		return in, err
	}
	if in.VPN, err = readIfExists(vpnPath(paths)); err != nil {
		return in, err
	}
	if t, ok := layout.target.(*ssh.Target); ok {
		if in.Machines, err = json.Marshal(t.Inventory); err != nil {
			return in, err
		}
	}
	return in, nil
}

func readIfExists(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// stackFiles fingerprints the stack's own files: Pulumi's state of it
// (plain or gzipped), its workspace settings (the secrets' salt), the
// secrets' passphrase and the inventory apply wrote after the up. A
// missing file is a part of its own.
func stackFiles(paths stackdir.Paths) (map[string]string, error) {
	out := map[string]string{}
	cp := paths.Checkpoint(projectName)
	for name, path := range map[string]string{
		"state": cp, "state.gz": cp + ".gz",
		"settings":   filepath.Join(paths.Workspace(), "Pulumi."+paths.Stack+".yaml"),
		"passphrase": paths.Passphrase(),
		// What apply wrote after the up, which a skipped apply returns.
		"inventory": paths.Inventory(),
	} {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out[name] = "none"
		case err != nil:
			return nil, err
		default:
			out[name] = sum(b)
		}
	}
	return out, nil
}

// loadLastUp reads the stack's record of its last up; nil when there is
// none or it cannot be read (either way the next apply runs Pulumi).
func loadLastUp(paths stackdir.Paths) *lastUp {
	b, err := os.ReadFile(paths.LastUp())
	if err != nil {
		return nil
	}
	var rec lastUp
	if json.Unmarshal(b, &rec) != nil || len(rec.Inputs) == 0 {
		return nil
	}
	return &rec
}

// changed says why an up is needed with inputs and stack (the stack's
// files now), or "" when rec's up left exactly this behind.
func (rec *lastUp) changed(inputs, stack map[string]string) string {
	if rec == nil {
		return "no record of an up that completed"
	}
	var why []string
	for _, k := range slices.Sorted(maps.Keys(inputs)) {
		if rec.Inputs[k] != inputs[k] {
			why = append(why, k)
		}
	}
	for k := range rec.Inputs {
		if _, ok := inputs[k]; !ok {
			why = append(why, k)
		}
	}
	if len(why) > 0 {
		return "changed since the last up: " + strings.Join(why, ", ")
	}
	if !maps.Equal(rec.Stack, stack) {
		return "the stack's state changed since crmplan's last up"
	}
	return ""
}

// saveLastUp records an up that succeeded, atomically (a crash leaves the
// old record, which forgetLastUp removed before the up, or the new one).
func saveLastUp(paths stackdir.Paths, rec lastUp) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(paths.LastUp(), append(b, '\n'), 0o600)
}

// forgetLastUp removes the record, durably, before anything changes the
// stack outside an up that will record itself: an up (which may be
// killed halfway), a destroy, a failover, a fault injected. Without it
// the next apply runs Pulumi.
func forgetLastUp(paths stackdir.Paths) error {
	err := os.Remove(paths.LastUp())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("forget the stack's last up: %w", err)
	}
	// The removal must be on disk before the up starts.
	d, err := os.Open(filepath.Dir(paths.LastUp()))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Unchanged is why apply did not run Pulumi.
type Unchanged struct {
	// Since is when the up that left the stack as it is completed.
	Since time.Time `json:"since"`
	// HostsChecked are the hosts asked for drift (processes, data
	// directories) before apply decided.
	HostsChecked int `json:"hosts_checked"`
}

func (u Unchanged) String() string {
	return fmt.Sprintf("inputs unchanged since %s, %d hosts checked", u.Since.UTC().Format(time.RFC3339), u.HostsChecked)
}

// recordUp records an up of inputs that succeeded, with the stack's files
// as it left them (the inventory, written after it, among them).
func recordUp(paths stackdir.Paths, inputs map[string]string) error {
	files, err := stackFiles(paths)
	if err != nil {
		return fmt.Errorf("record the up: %w", err)
	}
	return saveLastUp(paths, lastUp{Inputs: inputs, Stack: files, At: time.Now().UTC()})
}

// unchanged is Apply when Pulumi has nothing to do: the inventory the last
// up wrote (stackFiles checked it is that one), the network enforced again
// on an isolated stack, as an up would.
func (r Request) unchanged(ctx context.Context, layout Layout, last *lastUp, start time.Time) (Result, error) {
	inv, err := stackdir.LoadInventory(r.StateDir, r.Stack)
	if err != nil {
		return Result{}, err
	}
	if err := enforceNetwork(ctx, r.paths()); err != nil {
		return Result{}, err
	}
	u := Unchanged{Since: last.At, HostsChecked: layout.hostsChecked()}
	fmt.Fprintf(r.Out, "apply: nothing to do: %s; Pulumi not run (--refresh runs it) (%.1fs)\n", u, time.Since(start).Seconds())
	return Result{Inventory: inv, Changes: map[string]int{}, HostOnly: layout.Unsupported, Skipped: layout.Skipped, Unchanged: &u}, nil
}

// hostsChecked is how many hosts drift asks: none on the aws target,
// whose hosts show their state in the mesh.
func (l Layout) hostsChecked() int {
	if l.Target == ec2.Name {
		return 0
	}
	return len(l.Hosts)
}
