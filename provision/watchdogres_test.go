package provision

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/topology"
)

// TestFailoverURL: pgx reads the application's URL as every database host
// in order, connecting only to one that accepts writes.
func TestFailoverURL(t *testing.T) {
	hosts := []LocalHost{
		{Host: topology.Host{Name: "db-primary-1", Address: "127.54.2.12", Port: 5432}},
		{Host: topology.Host{Name: "db-replica-1", Address: "127.54.2.13", Port: 5432}},
	}
	cfg, err := pgx.ParseConfig(pgFailoverURL("p@ss,w:rd", hosts, "read-write"))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		got = append(got, f.Host)
	}
	if len(got) != 2 || got[0] != "127.54.2.12" || got[1] != "127.54.2.13" {
		t.Errorf("hosts %v, want the primary then the replica", got)
	}
	if cfg.Password != "p@ss,w:rd" || cfg.Database != "crm" || cfg.User != "crm" {
		t.Errorf("user %q password %q database %q", cfg.User, cfg.Password, cfg.Database)
	}
	if cfg.ValidateConnect == nil {
		t.Error("no target_session_attrs=read-write check: a standby would take writes' connections")
	}
}
