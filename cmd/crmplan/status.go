package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show each host's processes, health and replication lag",
		UsageText: "crmplan status (--plan FILE | --stack NAME) [--state-dir DIR] [--output table|json|yaml]",
		Description: strings.TrimSpace(`
Reads the stack's inventory and asks every host's agent through the mesh, all at once: its
supervised processes (pid, restarts, last exit), the CRM release each of its roles runs and
their health (/healthz, /readyz), its PostgreSQL server (a query), and for each replica its row
of pg_stat_replication on the primary (state, sync state, lag). A host whose mesh node is down
is reported DOWN (after at most 20 s); the others are reported all the same.
Exits 1 when a host is unhealthy.

Examples:
   crmplan status --plan examples/simplecrm.yaml
   crmplan status --stack simplecrm --output json`),
		Flags: deployFlags(),
		Action: func(c *cli.Context) error {
			req, format, err := deployRequest(c, false)
			if err != nil {
				return err
			}
			st, err := provision.GetStatus(c.Context, req.StateDir, req.Stack)
			if err != nil {
				return err
			}
			done, err := encode(c.App.Writer, st, format)
			if !done {
				err = printStatus(c.App.Writer, st)
			}
			if err != nil {
				return err
			}
			return unhealthy(st)
		},
	}
}

// unhealthy makes status exit non-zero when a host is down, for scripts.
func unhealthy(st provision.Status) error {
	var down []string
	for _, h := range st.Hosts {
		if !h.Healthy {
			down = append(down, h.Name)
		}
	}
	if len(down) == 0 {
		return nil
	}
	return crmplan.Errorf(crmplan.EUNAVAILABLE, "%d of %d hosts unhealthy: %s", len(down), len(st.Hosts), strings.Join(down, ", ")).
		Try("crmplan apply --stack %s ...   # restarts what is down; logs are in each host's directory", st.Stack)
}

func printStatus(w io.Writer, st provision.Status) error {
	fmt.Fprintf(w, "stack %s, web %s", st.Stack, st.WebURL)
	if st.Web != "" {
		fmt.Fprintf(w, " (%s)", st.Web)
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	isolated := false
	for _, h := range st.Hosts {
		isolated = isolated || h.Namespace != ""
	}
	fmt.Fprint(tw, "HOST\tROLE\tADDRESS\tHEALTH\tMESH\tRELEASE\tPROCESSES\tREPLICATION")
	if isolated {
		fmt.Fprint(tw, "\tNAMESPACE")
	}
	fmt.Fprintln(tw)
	for _, h := range st.Hosts {
		var procs []string
		for _, p := range h.Processes {
			state := fmt.Sprintf("pid %d", p.PID)
			if !p.Running {
				state = "DOWN"
			}
			procs = append(procs, fmt.Sprintf("%s (%s, %d restarts)", p.Name, state, p.Restarts))
		}
		if len(procs) == 0 {
			procs = []string{"-"}
		}
		repl := "-"
		if r := h.Replication; r != nil {
			repl = fmt.Sprintf("%s %s, lag %d bytes / %.3fs", r.State, r.SyncState, r.LagBytes, r.LagSecs)
		}
		health := h.Health
		if !h.Healthy {
			health = "DOWN: " + health
		}
		fmt.Fprintf(tw, "%s\t%s\t%s:%d\t%s\t%s\t%s\t%s\t%s", h.Name, h.Role, h.Address, h.Port, health, orDash(h.Mesh), orDash(h.Release),
			strings.Join(procs, ", "), repl)
		if isolated {
			fmt.Fprintf(tw, "\t%s", orDash(h.Namespace))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
