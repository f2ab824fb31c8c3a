// Package pgserver runs local PostgreSQL 15 servers from the machine's
// binaries: initdb into a directory, start, stop, wait until ready, and
// create streaming replicas with pg_basebackup.
//
// It serves two kinds of callers. Tests start a throw-away server with
// StartTest or StartTestPair and let t.Cleanup remove it. The local target of
// crmplan starts servers that must outlive the process that started them:
// each server lives in its own directory (data/, postgres.log and
// pgserver.json) and runs in its own session, so a later process can Open
// the directory and stop it.
//
// PostgreSQL refuses to run as root. When the caller is root, every
// PostgreSQL program runs as the "postgres" system user, which then owns the
// server directory; the directory's parents must let that user pass (o+x).
package pgserver
