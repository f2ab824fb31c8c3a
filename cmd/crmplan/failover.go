package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/provision"
)

func failoverCommand() *cli.Command {
	return &cli.Command{
		Name:      "failover",
		Usage:     "promote the replica to primary and repoint the api servers at it",
		UsageText: "crmplan failover --plan FILE [--force | --rebuild] [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Picks the db-replica that received the most WAL, checks that it has replayed everything the
primary wrote (waiting up to 5 s), fences the old primary (stops it), promotes the replica
with pg_promote, points the other replicas at it, records the failover in
<state-dir>/<stack>/failover.json and applies: every api and worker server is restarted with
the promoted replica as its database. Later applies keep it that way (the old primary stays
stopped). Refuses (exit 1) when the replica lags, or when the primary is down and
replication is asynchronous, unless --force accepts losing those writes.
--rebuild, once the old primary's host is back, rewinds its data to the promoted replica's
timeline with pg_rewind (a fresh base backup when that fails) and makes it that replica's
streaming replica, serving reads (synchronous when the plan says replication: sync).

With failover: automatic on the db-replica tier, apply runs a watchdog on the replica's host
that does the same by itself after 4 failed probes of the primary, 500 ms apart, without an
apply: the api servers' database URL names every database host and they reconnect to the
one that takes writes. crmplan failover --rebuild then brings the old primary back.

On the ssh target (--target ssh) the database hosts are separate machines and none holds the
key that signs work for another, so the watchdog fences by a lease: apply also runs a guard
on the primary's machine (port 27198, from the replica's machine only) that the watchdog
renews every 500 ms with a secret of the stack's own. A guard not renewed for 10 s stops its
PostgreSQL and marks it read-only; the watchdog promotes its own machine's replica once the
guard confirms the fence, or, when the primary's machine is lost whole, 11.5 s after its last
renewal. The promotion is recorded on the replica's machine; crmplan status, verify, failover
and the next apply fetch it through the replica's agent. The price of the lease: losing the
replica's machine fences the primary 10 s later (stopping the watchdog on purpose, through
apply, crmplan failover or destroy, releases the lease first).

Examples:
   crmplan failover --plan examples/simplecrm.yaml
   crmplan failover --plan examples/simplecrm.yaml --force   # the primary is gone, async
   crmplan failover --plan examples/simplecrm.yaml --rebuild # the old primary follows`),
		Flags: append(deployFlags(),
			&cli.BoolFlag{Name: "force", Usage: "fail over even when acknowledged writes may be lost"},
			&cli.BoolFlag{Name: "rebuild", Usage: "after a failover: rebuild the old primary as the new primary's replica"},
		),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, true)
			if err != nil {
				return err
			}
			if c.Bool("rebuild") {
				res, err := provision.Rebuild(c.Context, req)
				if err != nil {
					return err
				}
				return printApply(c.App.Writer, res, req.StateDir, format)
			}
			res, err := provision.Failover(c.Context, req, c.Bool("force"))
			if err != nil {
				return err
			}
			if done, err := encode(c.App.Writer, res, format); done {
				return err
			}
			return printFailover(c.App.Writer, res)
		},
	}
}

func printFailover(w io.Writer, res provision.FailoverResult) error {
	lag := "unknown (primary down)"
	if res.LagBytes >= 0 {
		lag = fmt.Sprintf("%d bytes", res.LagBytes)
	}
	_, err := fmt.Fprintf(w, "promoted %s (was replica), retired %s\nlag at failover: %s\npromote: %s, repoint + apply: %s\n",
		res.Promoted, res.Retired, lag, res.Promote.Round(time.Millisecond), res.Total.Round(time.Millisecond))
	return err
}
