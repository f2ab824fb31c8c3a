package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/sizing"
	"github.com/crmplan/crmplan/topology"
)

// sizeResult is the JSON/YAML contract of `crmplan size`: other tools read it.
type sizeResult struct {
	Plan     string                  `json:"plan" yaml:"plan"`
	Workload sizing.WorkloadEstimate `json:"workload" yaml:"workload"`
	Tiers    []sizing.TierEstimate   `json:"tiers" yaml:"tiers"`
	Model    sizing.Answer           `json:"model" yaml:"model"`
	EndToEnd sizing.Latency          `json:"end_to_end" yaml:"end_to_end"`
	SLO      sizing.SLO              `json:"slo" yaml:"slo"`
	MeetsSLO bool                    `json:"meets_slo" yaml:"meets_slo"`
	Database sizing.DatabaseEstimate `json:"database" yaml:"database"`
	// BulkLoad is what the primary runs with while apply --records loads
	// the plan's records, restored afterwards.
	BulkLoad sizing.BulkLoadSettings `json:"bulk_load" yaml:"bulk_load"`
	Topology topology.Topology       `json:"topology" yaml:"topology"`
	Cost     sizeCost                `json:"cost" yaml:"cost"`
}

// sizeCost is what the laid plan costs a month, priced as the report and
// preview price it.
type sizeCost struct {
	Currency string              `json:"currency" yaml:"currency"`
	Source   string              `json:"source" yaml:"source"`
	AsOf     string              `json:"as_of" yaml:"as_of"`
	Monthly  float64             `json:"monthly" yaml:"monthly"`
	Tiers    []topology.TierCost `json:"tiers" yaml:"tiers"`
	Unpriced []string            `json:"unpriced,omitempty" yaml:"unpriced,omitempty"`
}

// sweepResult is the JSON/YAML contract of `crmplan size --sweep`.
type sweepResult struct {
	Plan   string              `json:"plan" yaml:"plan"`
	Axis   string              `json:"axis" yaml:"axis"`
	Points []sizing.SweepPoint `json:"points" yaml:"points"`
}

func sizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "size",
		Usage:     "turn a workload into a topology with predicted utilization and latency",
		UsageText: "crmplan size [--plan FILE] [--named-users N --concurrency C --tpm T --records R] [--write FILE] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Derives the workload (concurrent users = named users x concurrency; requests/s =
concurrent users x TPM / 60), chooses every tier's servers with the utilization law
and an M/M/c queueing model, and lays the servers out in the plan's zones.

The predictions at those servers come from the model that fits the workload, and
the output says which and why: the concurrent users are a closed population, each
thinking 60/TPM seconds between requests, solved by Mean Value Analysis (exact for
small populations, Bard-Schweitzer for large ones); the open M/M/c model answers
when a tier is overloaded at the design rate. End-to-end percentiles are those of
the whole path's response-time distribution, per request class and over all.

The database line gives PostgreSQL's everyday settings, and the bulk-load line those the
primary runs with while apply --records seeds the records (max_wal_size an eighth of the
storage so that checkpoints do not come every few seconds, a 30 min checkpoint_timeout,
maintenance_work_mem for the index builds), restored afterwards; the local target caps
max_wal_size at 8GB and maintenance_work_mem at 512MB. JSON: bulk_load.

Flags override the plan file's workload. Without --plan the SimpleCRM layout is used
(web load balancer in the DMZ; api, PostgreSQL primary + async replica, ESB and ETL in the LAN).

Examples:
   crmplan size --named-users 3000 --concurrency 60% --tpm 5 --records 25M
   crmplan size --plan examples/simplecrm.yaml --output json
   crmplan size --named-users 3000 --concurrency 0.6 --tpm 5 --write plan.yaml
   crmplan size --plan examples/simplecrm.yaml --sweep named-users=1000:30000:1000
   crmplan size --plan examples/longjump.yaml --growth 20% --years 3
   crmplan size --plan examples/simplecrm.yaml --loadgen --write plan.yaml   # then verify --generators`),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "plan file to size (see examples/)", EnvVars: []string{"CRMPLAN_PLAN"}},
			&cli.StringFlag{Name: "name", Usage: "plan name when no --plan is given", Value: "simplecrm"},
			&cli.StringFlag{Name: "named-users", Usage: "named users (e.g. 3000, 3k)"},
			&cli.StringFlag{Name: "concurrency", Usage: "share of named users logged in at once (0.6 or 60%)"},
			&cli.StringFlag{Name: "tpm", Usage: "server requests per active session per minute"},
			&cli.StringFlag{Name: "records", Usage: "CRM records (25M, 25000000, 2.5e7)"},
			&cli.StringFlag{Name: "peak-factor", Usage: "peak-hour rate over the average (default 1)"},
			&cli.StringFlag{Name: "growth", Usage: "yearly growth of users and records (20%)"},
			&cli.StringFlag{Name: "years", Usage: "planning horizon for --growth, in years"},
			&cli.StringFlag{Name: "sweep", Usage: "what-if: AXIS=FROM:TO:STEP, AXIS one of named-users, concurrency, tpm"},
			&cli.BoolFlag{Name: "loadgen", Usage: "add load-generator hosts outside the DMZ (zone users, 127.10.0.0/24), as many as the model needs for the design rate (verify --generators)"},
			&cli.StringFlag{Name: "write", Usage: "save the plan to this file (for apply, verify, report)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "table, json or yaml", Value: "table", EnvVars: []string{"CRMPLAN_OUTPUT"}},
		},
		Action: func(c *cli.Context) error {
			plan, err := sizePlan(c)
			if err != nil {
				return err
			}
			format := c.String("output")
			if err := checkOutput(format); err != nil {
				return err
			}
			if s := c.String("sweep"); s != "" {
				return sweep(c.App.Writer, plan, s, format)
			}
			res, err := size(plan)
			if err != nil {
				return err
			}
			// Write the plan before printing so that a failure to write is the
			// last thing the user sees, and nothing half-written is left behind.
			if path := c.String("write"); path != "" {
				if err := writePlan(path, plan); err != nil {
					return err
				}
				defer fmt.Fprintf(c.App.ErrWriter, "wrote plan %s\n", path)
			}
			return printSize(c.App.Writer, res, format)
		},
	}
}

// size runs the model and lays out the hosts.
func size(plan *topology.Plan) (sizeResult, error) {
	l, err := topology.Lay(plan)
	if err != nil {
		return sizeResult{}, err
	}
	est := l.Estimate
	table, source := plan.PriceTable()
	c := topology.Cost(table, source, l.PricedHosts(), nil)
	return sizeResult{
		Plan: plan.Name, Workload: est.Workload, Tiers: est.Tiers, Model: est.Model, EndToEnd: est.EndToEnd,
		SLO: plan.Model().SLO, MeetsSLO: est.MeetsSLO, Database: est.Database, BulkLoad: est.Database.BulkLoad(), Topology: l.Topology,
		Cost: sizeCost{Currency: c.Currency, Source: c.Source, AsOf: c.AsOf, Monthly: c.Planned, Tiers: c.Tiers, Unpriced: c.Unpriced},
	}, nil
}

func printSize(w io.Writer, r sizeResult, format string) error {
	if done, err := encode(w, r, format); done {
		return err
	}
	fmt.Fprintf(w, "Plan %s\n\n", r.Plan)
	fmt.Fprintf(w, "Workload: %d named users -> %.0f concurrent -> %.2f requests/s (design rate %.2f req/s, %s records)\n\n",
		r.Workload.NamedUsers, r.Workload.ConcurrentUsers, r.Workload.RequestsPerSecond, r.Workload.DesignRate, humanCount(r.Workload.DesignRecords))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIER\tSERVERS\tCORES\tARRIVAL/s\tDEMAND ms\tUTIL\tMEAN ms\tP95 ms\tSATURATES AT\tWHY")
	beside := sidecarHosts(r.Topology)
	for _, t := range r.Tiers {
		// A tier the request path does not load (ETL, a scheduler) never saturates.
		saturates := "never"
		if t.SaturationRate > 0 {
			saturates = fmt.Sprintf("%.0f req/s (%d users)", t.SaturationRate, t.SaturationNamedUsers)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.0f%%\t%.1f\t%.1f\t%s\t%s\n",
			t.Role, t.Servers, t.Cores, t.ArrivalRate, t.ServiceDemandMs, 100*t.Utilization,
			t.PredictedMeanMs, t.PredictedP95Ms, saturates, t.Reason+sidecarWhy(beside[topology.Role(t.Role)]))
	}
	tw.Flush()
	printWhy(w, r.Tiers, beside)
	verdict := "meets"
	if !r.MeetsSLO {
		verdict = "MISSES"
	}
	fmt.Fprintf(w, "\nModel: %s at %.2f req/s: %s\n", r.Model.Name, r.Model.Throughput, r.Model.Why)
	fmt.Fprintf(w, "End to end: mean %.1f ms, p95 %.1f ms (%s the SLO of p95 %.0f ms)\n",
		r.EndToEnd.MeanMs, r.EndToEnd.P95Ms, verdict, r.SLO.P95Ms)
	printByClass(w, r.EndToEnd.ByClass)
	db := r.Database
	fmt.Fprintf(w, "Database: %s storage, %s working set, %s RAM per server\n",
		humanBytes(db.StorageBytes), humanBytes(db.WorkingSetBytes), humanBytes(db.MemoryBytes))
	printPools(w, db.Pools)
	fmt.Fprintf(w, "PostgreSQL: shared_buffers=%s effective_cache_size=%s work_mem=%s maintenance_work_mem=%s max_connections=%d\n",
		db.Settings.SharedBuffers, db.Settings.EffectiveCacheSize, db.Settings.WorkMem, db.Settings.MaintenanceWorkMem, db.Settings.MaxConnections)
	bl := r.BulkLoad
	fmt.Fprintf(w, "PostgreSQL during the bulk load (apply --records, restored after): max_wal_size=%s checkpoint_timeout=%s maintenance_work_mem=%s\n\n",
		bl.MaxWalSize, bl.CheckpointTimeout, bl.MaintenanceWorkMem)
	fmt.Fprintf(w, "Cost: %s/month for %d hosts (%s, as of %s)", money(r.Cost.Currency, r.Cost.Monthly), len(r.Topology.Hosts), r.Cost.Source, r.Cost.AsOf)
	if len(r.Cost.Unpriced) > 0 {
		fmt.Fprintf(w, "; not priced: %v", r.Cost.Unpriced)
	}
	fmt.Fprint(w, "\n\n")
	printTopology(w, r.Topology)
	return nil
}

// printPools gives each db-client tier's connections, and how far the tier
// scales with them: max_connections counts the totals, so within them a
// scale changes no PostgreSQL setting that needs a restart.
func printPools(w io.Writer, pools []sizing.TierPool) {
	if len(pools) == 0 {
		return
	}
	var tiers, scales []string
	for _, tp := range pools {
		tiers = append(tiers, fmt.Sprintf("%s %d over %d (%d each)", tp.Role, tp.Total, tp.Servers, tp.PerServer))
		scales = append(scales, fmt.Sprintf("%s to %d servers", tp.Role, tp.ScalesTo))
	}
	fmt.Fprintf(w, "Pools (connections to the primary, and to each replica) per tier, over its servers: %s\n", strings.Join(tiers, ", "))
	fmt.Fprintf(w, "  A tier keeps its total as it scales (%s): max_connections stays, and PostgreSQL runs on. "+
		"Past that each server keeps 2, the total grows, and PostgreSQL restarts for the higher max_connections\n", strings.Join(scales, ", "))
}

// printWhy explains every tier the sizing placed: what the role is for,
// then why it has that many servers, with the model's numbers.
// beside names, per role, the hosts that run it as a sidecar of their own
// role: their machines run it too, on top of the tier's servers.
func printWhy(w io.Writer, tiers []sizing.TierEstimate, beside map[topology.Role][]string) {
	fmt.Fprintln(w, "\nWhy each tier, and why that many servers:")
	for _, t := range tiers {
		fmt.Fprintf(w, "  %s: ", t.Role)
		if p := topology.Role(t.Role).Purpose(); p != "" {
			fmt.Fprintf(w, "%s. ", p)
		}
		unit := "servers"
		if t.Servers == 1 {
			unit = "server"
		}
		fmt.Fprintf(w, "%d %s (%s): %s", t.Servers, unit, t.Reason, cmp.Or(t.Detail, "as the plan has it"))
		if hosts := beside[topology.Role(t.Role)]; len(hosts) > 0 {
			fmt.Fprintf(w, "; and one on each machine whose role mails (seed 002: \"1 per machine\"), handing its mail on to the tier: %s",
				strings.Join(hosts, ", "))
		}
		fmt.Fprintln(w)
	}
}

// sidecarHosts names, per role, the hosts that run it beside their own.
func sidecarHosts(t topology.Topology) map[topology.Role][]string {
	out := map[topology.Role][]string{}
	for _, h := range t.Hosts {
		for _, r := range h.Sidecars {
			out[r] = append(out[r], h.Name)
		}
	}
	return out
}

// sidecarWhy is what the WHY column adds for a role that also runs beside
// other roles: "+3 per machine".
func sidecarWhy(hosts []string) string {
	if len(hosts) == 0 {
		return ""
	}
	return fmt.Sprintf(" +%d per machine", len(hosts))
}

// printByClass prints each request class's end-to-end mean and p95, in
// the canonical class order, on one line.
func printByClass(w io.Writer, by map[sizing.Class]sizing.ClassLatency) {
	var parts []string
	for _, c := range sizing.Classes() {
		if l, ok := by[c]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f/%.1f", c, l.MeanMs, l.P95Ms))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  by class, mean/p95 ms: %s\n", strings.Join(parts, ", "))
	}
}

func printTopology(w io.Writer, t topology.Topology) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tROLE\tZONE\tADDRESS")
	for _, h := range t.Hosts {
		role := string(h.Role)
		for _, r := range h.Sidecars {
			role += fmt.Sprintf(" + %s :%d", r, topology.DefaultPort(r))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\n", h.Name, role, h.Zone, h.Address, h.Port)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nAllowed links (everything else is denied):")
	for _, l := range t.Links {
		fmt.Fprintf(w, "  %s -> %s :%d\n", l.From, l.To, l.Port)
	}
}
