package pgserver

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// confFile is included from postgresql.conf; pgserver owns it and rewrites
// it whole, so the settings in it are always exactly those in pgserver.json.
const confFile = "crmplan.conf"

// writeConf writes crmplan.conf and makes postgresql.conf include it.
func (s *Server) writeConf() error {
	settings := map[string]string{
		"listen_addresses": s.meta.Host,
		"port":             strconv.Itoa(s.meta.Port),
		// TCP only: socket paths are length-limited and the default socket
		// directory belongs to the system's own cluster.
		"unix_socket_directories": "",
		"cluster_name":            s.meta.Name,
		"logging_collector":       "off",
		"wal_level":               "replica",
		"hot_standby":             "on",
		"wal_keep_size":           "1GB",
		// pg_rewind needs it (or data checksums) to rebuild a failed
		// primary as a replica without copying the whole database.
		"wal_log_hints": "on",
	}
	if s.meta.Primary != "" {
		settings["primary_conninfo"] = s.primaryConninfo()
	}
	for k, v := range s.meta.Settings {
		settings[k] = v
	}
	// After Settings: a synchronous replica asked for wins over Ephemeral.
	if len(s.meta.SyncStandbys) > 0 {
		quoted := make([]string, len(s.meta.SyncStandbys))
		for i, n := range s.meta.SyncStandbys {
			quoted[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
		}
		settings["synchronous_standby_names"] = "ANY 1 (" + strings.Join(quoted, ", ") + ")"
		settings["synchronous_commit"] = "remote_apply"
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# written by crmplan pgserver from pgserver.json; edits are overwritten\n")
	// postgresql.conf reads a backslash in a quoted value as an escape:
	// primary_conninfo's own libpq quoting (\') must survive it.
	quote := strings.NewReplacer(`\`, `\\`, `'`, `''`)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, quote.Replace(settings[k]))
	}
	if err := s.writeOwned(filepath.Join(s.DataDir(), confFile), b.String()); err != nil {
		return err
	}
	return s.includeConf()
}

// includeConf appends the include line to postgresql.conf once; a replica
// inherits it from its primary through pg_basebackup.
func (s *Server) includeConf() error {
	path := filepath.Join(s.DataDir(), "postgresql.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	line := "include = '" + confFile + "'"
	if strings.Contains(string(b), line) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "\n%s\n", line); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// primaryConninfo is the libpq connection string a replica streams with.
func (s *Server) primaryConninfo() string {
	host, port, _ := net.SplitHostPort(s.meta.Primary)
	kv := [][2]string{{"host", host}, {"port", port}, {"user", Superuser}, {"application_name", s.meta.Name}}
	if s.meta.Password != "" {
		kv = append(kv, [2]string{"password", s.meta.Password})
	}
	parts := make([]string, len(kv))
	for i, p := range kv {
		v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(p[1])
		parts[i] = p[0] + "='" + v + "'"
	}
	return strings.Join(parts, " ")
}

// Configure merges settings into postgresql.conf and reloads a running
// server. Settings that need a restart (shared_buffers, max_connections)
// take effect at the next Start.
func (s *Server) Configure(settings map[string]string) error {
	if s.meta.Settings == nil {
		s.meta.Settings = map[string]string{}
	}
	for k, v := range settings {
		s.meta.Settings[k] = v
	}
	return s.saveAndReload()
}

// Unset removes settings from postgresql.conf, so that they fall back to
// PostgreSQL's defaults, and reloads a running server.
func (s *Server) Unset(keys ...string) error {
	for _, k := range keys {
		delete(s.meta.Settings, k)
	}
	return s.saveAndReload()
}

// Settings returns a copy of the settings the server's configuration
// holds (those crmplan wrote: the sizing's, replication's).
func (s *Server) Settings() map[string]string { return maps.Clone(s.meta.Settings) }

// saveAndReload writes the configuration and meta of a changed server and
// reloads it when it runs.
func (s *Server) saveAndReload() error {
	if err := s.writeConf(); err != nil {
		return err
	}
	if err := s.saveMeta(); err != nil {
		return err
	}
	if _, ok := s.PID(); ok {
		return s.Reload()
	}
	return nil
}
