package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// agentDatabaseCommands are the agent's work on a database host: its
// PostgreSQL server, and the CRM's schema and seed data.
func agentDatabaseCommands(hostDir cli.Flag, host func(*cli.Context) agent.Host) []*cli.Command {
	return []*cli.Command{
		agentWatchdogCommand(hostDir, host),
		{
			Name: "postgres",
			Usage: "run PostgreSQL on the host: stdin is the operation (JSON: action init|replica|configure|stop|remove|sync|promote|rebuild|upstream|status, " +
				"name, listen, password, settings, ...); the last line of the output is the server's status (JSON)",
			Flags:  []cli.Flag{hostDir},
			Before: requireFlags("host-dir"),
			Action: func(c *cli.Context) error {
				var op wire.PostgresOp
				if err := json.NewDecoder(c.App.Reader).Decode(&op); err != nil {
					return crmplan.Errorf(crmplan.EINVALID, "postgres operation on stdin: %w", err).In("payload")
				}
				self, err := os.Executable()
				if err != nil {
					return err
				}
				st, err := host(c).Postgres(c.Context, self, op, c.App.Writer)
				if err != nil {
					return err
				}
				line, err := json.Marshal(st)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s\n", line)
				return nil
			},
		},
		{
			Name:   "ledger",
			Usage:  "print as JSON the ledger keys of a chaos run the host's database holds; stdin is the query (JSON: database, run)",
			Flags:  []cli.Flag{hostDir},
			Before: requireFlags("host-dir"),
			Action: func(c *cli.Context) error {
				var q wire.LedgerQuery
				if err := json.NewDecoder(c.App.Reader).Decode(&q); err != nil || q.Database == "" || q.Run == "" {
					return crmplan.Errorf(crmplan.EINVALID, "ledger query on stdin needs a database and a run (%v)", err).In("payload")
				}
				l, err := host(c).Ledger(c.Context, q)
				if err != nil {
					return err
				}
				return writeJSON(c.App.Writer, l)
			},
		},
		{
			Name:  "seed",
			Usage: "empty the CRM's schema, then crm migrate and crm seed of the current release; stdin is a JSON object of environment variables (CRM_DATABASE_URL, CRM_SEED_PASSWORD_KEY)",
			Flags: []cli.Flag{hostDir, &cli.IntFlag{Name: "records"}, &cli.IntFlag{Name: "users"},
				&cli.StringSliceFlag{Name: "bulk-setting", Usage: "KEY=VALUE: a PostgreSQL setting while the seed lasts (max_wal_size, checkpoint_timeout, maintenance_work_mem); repeatable"}},
			Before: requireFlags("host-dir"),
			Action: func(c *cli.Context) error {
				var env map[string]string
				if err := json.NewDecoder(c.App.Reader).Decode(&env); err != nil {
					return crmplan.Errorf(crmplan.EINVALID, "environment on stdin: %w", err).In("payload")
				}
				bulk := map[string]string{}
				for _, kv := range c.StringSlice("bulk-setting") {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" || v == "" {
						return crmplan.Errorf(crmplan.EINVALID, "want KEY=VALUE, got %q", kv).In("--bulk-setting").Try("--bulk-setting max_wal_size=8GB")
					}
					bulk[k] = v
				}
				return host(c).Seed(c.Context, env, c.Int("records"), c.Int("users"), bulk, c.App.Writer)
			},
		},
	}
}

// agentWatchdogCommand starts or stops the failover watchdog on its host.
func agentWatchdogCommand(hostDir cli.Flag, host func(*cli.Context) agent.Host) *cli.Command {
	return &cli.Command{
		Name: "watchdog",
		Usage: "start (or with stop: true, stop) the automatic-failover watchdog from the spec on stdin (JSON: primary, replicas, interval, probes, ...); " +
			"with guard: true the lease guard of the primary's host; with read: true only report the promotion the host's watchdog recorded",
		Flags:  []cli.Flag{hostDir},
		Before: requireFlags("host-dir"),
		Action: func(c *cli.Context) error {
			var spec wire.WatchdogSpec
			if err := json.NewDecoder(c.App.Reader).Decode(&spec); err != nil {
				return crmplan.Errorf(crmplan.EINVALID, "watchdog spec on stdin: %w", err).In("payload")
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			reply, err := host(c).Watchdog(self, spec)
			if err != nil {
				return err
			}
			line, err := json.Marshal(reply)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s\n", line)
			return nil
		},
	}
}
