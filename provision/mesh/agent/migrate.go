package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan"
)

// Migrate runs `crm migrate` of the current release with env (the database
// URL travels in the unit's payload), its output into out.
func (h Host) Migrate(ctx context.Context, env map[string]string, out io.Writer) error {
	if err := h.canMigrate(env); err != nil {
		return err
	}
	return h.runCrm(ctx, env, out, "migrate")
}

// runCrm runs a one-shot command of the current release's crm with env
// added to the agent's environment (secrets travel there, not in argv).
func (h Host) runCrm(ctx context.Context, env map[string]string, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(h.Dir, "current", "crm"), args...)
	cmd.Dir = h.Dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("crm %s (release %s): %w", args[0], h.Current(), err)
	}
	return nil
}

// canMigrate fails unless a release is installed and env names the database.
func (h Host) canMigrate(env map[string]string) error {
	if h.Current() == "" {
		return crmplan.Errorf(crmplan.ECONFLICT, "no release installed on %s", filepath.Base(h.Dir)).Try("install a release first (work type crmplan-install)")
	}
	if env["CRM_DATABASE_URL"] == "" {
		return crmplan.Errorf(crmplan.EINVALID, "the payload has no CRM_DATABASE_URL").In("payload")
	}
	return nil
}

// Seed empties the CRM database's schema, migrates it and seeds it with
// records and users by the current release's `crm migrate` and `crm seed`
// (env carries CRM_DATABASE_URL and CRM_SEED_PASSWORD_KEY). It runs only when
// the stack has no seeded database in its state, so whatever the schema
// holds was left by a seed that was interrupted, and crm seed needs it
// empty.
func (h Host) Seed(ctx context.Context, env map[string]string, records, users int, out io.Writer) error {
	if err := h.canMigrate(env); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, env["CRM_DATABASE_URL"])
	if err != nil {
		return fmt.Errorf("crm database: %w", err)
	}
	// PostgreSQL 15 makes the database owner (the app role) own public.
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
	conn.Close(context.Background())
	if err != nil {
		return fmt.Errorf("crm database: reset schema: %w", err)
	}
	if err := h.runCrm(ctx, env, out, "migrate"); err != nil {
		return err
	}
	return h.runCrm(ctx, env, out, "seed", "--records", fmt.Sprint(records), "--users", fmt.Sprint(users))
}
