package reports

import (
	"fmt"
	"sort"

	"github.com/crmplan/crmplan/topology"
)

// defaultPriceSource names the shipped table; the narrative says more
// about prices when the plan brings none.
const defaultPriceSource = topology.DefaultPriceSource

func costSection(in Inputs, tiers []Tier) CostSection {
	table, source := in.Plan.PriceTable()
	c := CostSection{Currency: table.Currency, AsOf: table.AsOf, Source: source}
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if len(tiers) == 0 {
		c.Missing = missingEstimate
		return c
	}
	for _, t := range tiers {
		inst := t.Instance
		if inst == "" {
			inst = topology.DefaultInstance(topology.Role(t.Role), t.Cores)
		}
		unit, ok := table.Monthly[inst]
		if !ok {
			c.Unpriced = append(c.Unpriced, fmt.Sprintf("%s (%s)", t.Role, inst))
			continue
		}
		line := CostLine{Role: t.Role, Instance: inst, Servers: t.Servers, Unit: unit, Monthly: round2(unit * float64(t.Servers))}
		c.Lines = append(c.Lines, line)
		c.Total = round2(c.Total + line.Monthly)
	}
	sort.Strings(c.Unpriced)
	return c
}
