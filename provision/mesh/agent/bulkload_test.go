package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// settingsOf reads the running server's values of names.
func settingsOf(t *testing.T, ctx context.Context, url string, names ...string) map[string]string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string]string{}
	for _, n := range names {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", n).Scan(&v); err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

// waitSettings waits for a reload to reach new sessions.
func waitSettings(t *testing.T, ctx context.Context, url string, want map[string]string) {
	t.Helper()
	var got map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		names := make([]string, 0, len(want))
		for k := range want {
			names = append(names, k)
		}
		if got = settingsOf(t, ctx, url, names...); len(got) == len(want) {
			same := true
			for k, v := range want {
				same = same && got[k] == v
			}
			if same {
				return
			}
		}
	}
	t.Fatalf("settings %v, want %v", got, want)
}

// TestBulkLoadSettings: a seed's bulk-load settings reach the running
// primary by a reload (no restart: the pid stays), and the server's own
// come back afterwards, a setting it never had falling back to the
// default.
func TestBulkLoadSettings(t *testing.T) {
	ctx, _, run, _ := pgRunner(t)
	h := pgHosts(t, 1)[0]
	addr := "127.78.249.21:5432"
	url := "postgres://postgres:pw@" + addr + "/postgres?sslmode=disable"
	run(h, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: addr, Password: "pw",
		Settings: map[string]string{"maintenance_work_mem": "64MB"}})
	own := map[string]string{"max_wal_size": "1GB", "checkpoint_timeout": "5min", "maintenance_work_mem": "64MB"}
	waitSettings(t, ctx, url, own)
	pid := query(t, ctx, url, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")

	var out bytes.Buffer
	restore, err := h.bulkLoad(map[string]string{"max_wal_size": "4GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "256MB"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	waitSettings(t, ctx, url, map[string]string{"max_wal_size": "4GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "256MB"})
	if !strings.Contains(out.String(), "bulk load: checkpoint_timeout=30min maintenance_work_mem=256MB max_wal_size=4GB") {
		t.Errorf("output %q does not say what it set", out.String())
	}
	restore()
	waitSettings(t, ctx, url, own)
	if got := query(t, ctx, url, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"); got != pid {
		t.Errorf("checkpointer pid %d, was %d: the server restarted", got, pid)
	}
	if !strings.Contains(out.String(), "settings are back") {
		t.Errorf("output %q does not say the settings are back", out.String())
	}
}

// TestSeedGrantsReplicationRole: while a seed lasts the CRM's role, no
// superuser, may set session_replication_role (its COPYs skip the per-row
// foreign-key triggers); afterwards it may not.
func TestSeedGrantsReplicationRole(t *testing.T) {
	ctx, _, run, _ := pgRunner(t)
	h := pgHosts(t, 1)[0]
	addr := "127.78.249.23:5432"
	run(h, wire.PostgresOp{Action: wire.PostgresInit, Name: "db-1", Listen: addr, Password: "pw", Database: "crm", AppUser: "crm", AppPassword: "apw"})
	appURL := "postgres://crm:apw@" + addr + "/crm?sslmode=disable"
	setRole := func() error {
		conn, err := pgx.Connect(ctx, appURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "SET session_replication_role = replica")
		return err
	}
	if setRole() == nil {
		t.Fatal("the app role set session_replication_role before any grant")
	}
	var out bytes.Buffer
	revoke, err := h.grantReplicationRole(ctx, appURL, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := setRole(); err != nil {
		t.Errorf("during the seed: %v", err)
	}
	revoke()
	if setRole() == nil {
		t.Error("the app role still sets session_replication_role after the seed")
	}
	if !strings.Contains(out.String(), "crm may skip foreign-key triggers") {
		t.Errorf("output %q does not say so", out.String())
	}
}

func TestBulkLoadRefuses(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantCode string
	}{
		{"a setting that needs a restart", map[string]string{"shared_buffers": "8GB"}, crmplan.EINVALID},
		{"no server on the host", map[string]string{"max_wal_size": "4GB"}, crmplan.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Host{Dir: t.TempDir()}.bulkLoad(tt.settings, &bytes.Buffer{})
			if crmplan.ErrorCode(err) != tt.wantCode {
				t.Errorf("err = %v (code %q), want code %q", err, crmplan.ErrorCode(err), tt.wantCode)
			}
		})
	}
	if restore, err := (Host{Dir: t.TempDir()}).bulkLoad(nil, &bytes.Buffer{}); err != nil {
		t.Errorf("no settings: %v", err)
	} else {
		restore()
	}
}
