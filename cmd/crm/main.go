// Command crm is the bundled CRM: one binary, one role per subcommand
// (api, web, worker, integration, docstore, cache, queue, proxy, etl,
// scheduler, kv, mail, admin, marketing, vpn, migrate, seed), configured by flags or CRM_* variables.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/store"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the exit code: 0, 2 for bad input, 1 else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := newApp(stdout, stderr)
	err := a.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "crm: %v\n", err)
	var e *app.Error
	if errors.As(err, &e) && e.Code == app.EINVALID {
		return 2
	}
	return 1
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:           "crm",
		Usage:          "the bundled three-tier CRM and its supporting roles (one per command)",
		Version:        version,
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {}, // run maps errors to exit codes
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"CRM_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "json", EnvVars: []string{"CRM_LOG_FORMAT"}, Usage: "json or text"},
		},
		Commands: []*cli.Command{apiCommand(), webCommand(), webTakesConnsCommand(), workerCommand(), migrateCommand(), seedCommand(),
			integrationCommand(), docstoreCommand(), proxyCommand(), queueCommand(), schedulerCommand(), cacheCommand(), etlCommand(), kvCommand(), mailCommand(), adminCommand(), marketingCommand(), vpnCommand()},
	}
}

// logger builds the slog logger of the global flags.
func logger(c *cli.Context, role string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, app.Errorf(app.EINVALID, "must be debug, info, warn or error").In("--log-level")
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.String("log-format") {
	case "json":
		h = slog.NewJSONHandler(c.App.ErrWriter, opts)
	case "text":
		h = slog.NewTextHandler(c.App.ErrWriter, opts)
	default:
		return nil, app.Errorf(app.EINVALID, "must be json or text").In("--log-format")
	}
	return slog.New(h).With("role", role), nil
}

// openStore opens the pools of the database flags.
func openStore(c *cli.Context, log *slog.Logger) (*store.Store, error) {
	maxConns := int32(c.Int("db-max-conns"))
	if f := c.String("db-max-conns-file"); f != "" {
		n, err := readMaxConns(f)
		if err != nil {
			return nil, err
		}
		maxConns = n
	}
	return store.Open(c.Context, store.Config{DatabaseURL: c.String("database-url"), ReplicaURL: c.String("replica-url"),
		MaxConns: maxConns, Log: log})
}

// readMaxConns reads --db-max-conns-file: one number, 0 for the default.
func readMaxConns(file string) (int32, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, app.Errorf(app.EINVALID, "reading the pool size: %w", err).In("--db-max-conns-file")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || n < 0 {
		return 0, app.Errorf(app.EINVALID, "must hold a number of connections like 8, got %.20q", strings.TrimSpace(string(b))).In(file)
	}
	return int32(n), nil
}

func databaseFlags() []cli.Flag {
	return []cli.Flag{
		databaseURLFlag(),
		&cli.StringFlag{Name: "replica-url", EnvVars: []string{"CRM_REPLICA_URL"}, Usage: "streaming replica for reads (optional; a URL with a password only in the env var)",
			Action: urlWithoutPassword("--replica-url", "CRM_REPLICA_URL")},
		&cli.IntFlag{Name: "db-max-conns", EnvVars: []string{"CRM_DB_MAX_CONNS"}, Usage: "connections per pool (default 16)"},
		&cli.StringFlag{Name: "db-max-conns-file", EnvVars: []string{"CRM_DB_MAX_CONNS_FILE"}, Usage: "file holding the connections per pool, instead of --db-max-conns; " +
			"crm api, worker and etl re-read it on SIGHUP and replace their pools without a restart (the agent's way when their tier scales)"},
	}
}

// databaseURLFlag is the primary's URL. One that holds a password comes
// from CRM_DATABASE_URL only: an argument shows in ps to every local user.
func databaseURLFlag() cli.Flag {
	return &cli.StringFlag{Name: "database-url", Required: true, EnvVars: []string{"CRM_DATABASE_URL"},
		Usage: "primary PostgreSQL, postgres://user@host:port/db; one with a password only in the env var", Action: urlWithoutPassword("--database-url", "CRM_DATABASE_URL")}
}

// urlWithoutPassword refuses a URL with a password given as an argument
// rather than in the environment variable env (finding 11).
func urlWithoutPassword(flag, env string) func(*cli.Context, string) error {
	return func(c *cli.Context, v string) error {
		u, err := url.Parse(v)
		if err != nil || u.User == nil || v == os.Getenv(env) {
			return nil
		}
		if _, ok := u.User.Password(); ok {
			return app.Errorf(app.EINVALID, "the URL holds a password, which every local user reads in ps: set %s=URL instead", env).In(flag)
		}
		return nil
	}
}
