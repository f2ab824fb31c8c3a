package main

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/topology"
)

// planCost prices the laid plan against what the stack has deployed, from
// the plan's price table (or the shipped one) and the instance types the
// report prices: what preview shows before anything is made. A stack never
// applied has nothing deployed.
func planCost(l topology.Laid, stateDir, stack string) (topology.CostChange, error) {
	table, source := l.Plan.PriceTable()
	var deployed []topology.PricedHost
	inv, err := stackdir.LoadInventory(stateDir, stack)
	var e *crmplan.Error
	switch {
	case errors.As(err, &e) && e.Code == crmplan.ENOTFOUND:
	case err != nil:
		return topology.CostChange{}, err
	default:
		deployed = deployedHosts(inv, l.Instances())
	}
	return topology.Cost(table, source, l.PricedHosts(), deployed), nil
}

// deployedHosts are the inventory's hosts with the instance types apply
// recorded. An inventory from before apply recorded them is priced with the
// plan's types for the same roles: the hosts were laid out from the same
// model.
func deployedHosts(inv stackdir.Inventory, planned map[topology.Role]string) []topology.PricedHost {
	out := make([]topology.PricedHost, 0, len(inv.Hosts))
	for _, h := range inv.Hosts {
		inst := h.Instance
		if inst == "" {
			inst = planned[topology.Role(h.Role)]
		}
		out = append(out, topology.PricedHost{Name: h.Name, Role: topology.Role(h.Role), Instance: inst})
	}
	return out
}

// money prints an amount the way a user reads a bill: "$140" for USD,
// "EUR 140" for another currency, cents only when there are some.
func money(currency string, v float64) string {
	s := fmt.Sprintf("%.2f", math.Abs(v))
	if v == math.Trunc(v) {
		s = fmt.Sprintf("%.0f", math.Abs(v))
	}
	if currency == "" || currency == "USD" {
		return "$" + s
	}
	return currency + " " + s
}

// signed is a change of cost: "+ $140", "- $70", "± $0".
func signed(currency string, v float64) string {
	switch {
	case v > 0:
		return "+ " + money(currency, v)
	case v < 0:
		return "- " + money(currency, v)
	}
	return "± " + money(currency, 0)
}

// printCost writes the monthly cost and its change, a line per host whose
// cost changes, then per tier, then the total.
func printCost(w io.Writer, c topology.CostChange) {
	fmt.Fprintf(w, "\nCost (%s, as of %s):\n", c.Source, c.AsOf)
	for _, h := range c.Hosts {
		what := h.Instance
		if h.Op == "~" {
			what = h.Was + " -> " + h.Instance
		}
		fmt.Fprintf(w, "  %s/month: %s %s\n", signed(c.Currency, h.Delta), h.Host, what)
	}
	for _, t := range c.Tiers {
		servers := "servers"
		if t.Servers == 1 {
			servers = "server "
		}
		fmt.Fprintf(w, "  %-12s %2d %s  %s/month (%s)\n", t.Role, t.Servers, servers, money(c.Currency, t.Planned), signed(c.Currency, t.Delta))
	}
	fmt.Fprintf(w, "  total: %s/month, deployed %s/month, %s/month\n",
		money(c.Currency, c.Planned), money(c.Currency, c.Deployed), signed(c.Currency, c.Delta))
	if len(c.Unpriced) > 0 {
		fmt.Fprintf(w, "  not priced (counted as 0): %v; add them to the plan's prices:\n", c.Unpriced)
	}
}
