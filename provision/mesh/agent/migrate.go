package agent

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/pgserver"
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
// empty. bulk are the server's settings while the seed lasts (a larger
// max_wal_size, ...); the server's own come back afterwards, failed or not.
func (h Host) Seed(ctx context.Context, env map[string]string, records, users int, bulk map[string]string, out io.Writer) error {
	if err := h.canMigrate(env); err != nil {
		return err
	}
	restore, err := h.bulkLoad(bulk, out)
	if err != nil {
		return err
	}
	defer restore()
	revoke, err := h.grantReplicationRole(ctx, env["CRM_DATABASE_URL"], out)
	if err != nil {
		return err
	}
	defer revoke()
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

// bulkLoad applies settings to the host's server by a reload (they must be
// reloadable: no restart in the middle of an apply) and returns what puts
// the server's own settings back.
func (h Host) bulkLoad(settings map[string]string, out io.Writer) (func(), error) {
	if len(settings) == 0 {
		return func() {}, nil
	}
	keys := slices.Sorted(maps.Keys(settings))
	for _, k := range keys {
		if !bulkSettings[k] {
			return nil, crmplan.Errorf(crmplan.EINVALID, "%q is not a bulk-load setting (one of %s)", k, strings.Join(slices.Sorted(maps.Keys(bulkSettings)), ", ")).In("--bulk-setting")
		}
	}
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return nil, crmplan.Errorf(crmplan.ECONFLICT, "bulk-load settings need the host's own PostgreSQL server: %w", err).In(filepath.Base(h.Dir))
	}
	own := srv.Settings()
	if err := srv.Configure(settings); err != nil {
		return nil, fmt.Errorf("bulk-load settings: %w", err)
	}
	fmt.Fprintf(out, "bulk load: %s (until the seed ends)\n", formatSettings(settings, keys))
	return func() {
		var unset []string
		back := map[string]string{}
		for _, k := range keys {
			if v, ok := own[k]; ok {
				back[k] = v
			} else {
				unset = append(unset, k)
			}
		}
		err := srv.Configure(back)
		if err == nil {
			err = srv.Unset(unset...)
		}
		if err != nil {
			fmt.Fprintf(out, "bulk load: restoring the server's settings: %v\n", err)
			return
		}
		fmt.Fprintf(out, "bulk load: the server's own settings are back (%s)\n", strings.Join(keys, ", "))
	}, nil
}

// grantReplicationRole lets the CRM's role set session_replication_role
// while the seed lasts (PostgreSQL 15's GRANT SET ON PARAMETER), so that
// crm seed's COPYs skip the per-row foreign-key triggers, as its rows are
// consistent by construction. Without it the role, no superuser, had
// every row's checks queued and run at the end of each COPY: minutes of a
// stalled load at 2.5M records on a busy machine. A host without its own
// server (the database elsewhere) seeds with the checks.
func (h Host) grantReplicationRole(ctx context.Context, databaseURL string, out io.Writer) (func(), error) {
	srv, err := pgserver.Open(PostgresDir(h.Dir))
	if err != nil {
		return func() {}, nil
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "CRM_DATABASE_URL is not a PostgreSQL URL").In("payload")
	}
	role := pgx.Identifier{cfg.User}.Sanitize()
	if err := srv.Exec(ctx, "postgres", "GRANT SET ON PARAMETER session_replication_role TO "+role); err != nil {
		return nil, fmt.Errorf("seed: grant session_replication_role to %s: %w", cfg.User, err)
	}
	fmt.Fprintf(out, "bulk load: %s may skip foreign-key triggers (session_replication_role) until the seed ends\n", cfg.User)
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := srv.Exec(rctx, "postgres", "REVOKE SET ON PARAMETER session_replication_role FROM "+role); err != nil {
			fmt.Fprintf(out, "bulk load: revoking session_replication_role from %s: %v\n", cfg.User, err)
		}
	}, nil
}

// bulkSettings are the settings a seed may change: all reloadable.
var bulkSettings = map[string]bool{"max_wal_size": true, "checkpoint_timeout": true, "maintenance_work_mem": true}

func formatSettings(s map[string]string, keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + s[k]
	}
	return strings.Join(parts, " ")
}
