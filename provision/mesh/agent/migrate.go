package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/crmplan/crmplan"
)

// Migrate runs `crm migrate` of the current release with env (the database
// URL travels in the unit's payload), its output into out.
func (h Host) Migrate(ctx context.Context, env map[string]string, out io.Writer) error {
	if h.Current() == "" {
		return crmplan.Errorf(crmplan.ECONFLICT, "no release installed on %s", filepath.Base(h.Dir)).Try("install a release first (work type crmplan-install)")
	}
	if env["CRM_DATABASE_URL"] == "" {
		return crmplan.Errorf(crmplan.EINVALID, "the migrate payload has no CRM_DATABASE_URL").In("payload")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(h.Dir, "current", "crm"), "migrate")
	cmd.Dir = h.Dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("crm migrate (release %s): %w", h.Current(), err)
	}
	return nil
}

// Status is what the status unit reports about a host.
type Status struct {
	Dir      string   `json:"dir"`
	Current  string   `json:"current"`
	Previous string   `json:"previous,omitempty"`
	Releases []string `json:"releases"`
	Roles    []Health `json:"roles"`
}

// Status lists the host's releases and the health of its roles.
func (h Host) Status(ctx context.Context) (Status, error) {
	st := Status{Dir: h.Dir, Current: h.Current(), Previous: h.Previous(), Releases: []string{}, Roles: []Health{}}
	entries, _ := os.ReadDir(h.releasesDir())
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			st.Releases = append(st.Releases, e.Name())
		}
	}
	specs, _ := filepath.Glob(filepath.Join(h.rolesDir(), "*.json"))
	sort.Strings(specs)
	for _, p := range specs {
		health, err := h.CheckHealth(ctx, strings.TrimSuffix(filepath.Base(p), ".json"))
		if err != nil {
			return st, err
		}
		st.Roles = append(st.Roles, health)
	}
	return st, nil
}
