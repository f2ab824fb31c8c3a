package reports

import (
	"fmt"
	"sort"

	"github.com/crmplan/crmplan/topology"
)

// hoursPerMonth is the cloud providers' billing month (365 × 24 / 12).
const hoursPerMonth = 730

// defaultPriceSource describes DefaultPrices in the report.
const defaultPriceSource = "shipped default table: AWS EC2 on-demand list prices, us-east-1, Linux, 730 h a month"

// DefaultPrices is the table the report uses when the plan has none: AWS EC2
// on-demand hourly list prices (us-east-1, Linux) times 730 hours. They are
// indicative; a plan with its own `prices:` section overrides them all.
func DefaultPrices() topology.PriceTable {
	hourly := map[string]float64{
		"t3.medium":   0.0416,
		"t3.large":    0.0832,
		"c6i.large":   0.085,
		"c6i.xlarge":  0.17,
		"c6i.2xlarge": 0.34,
		"m6i.large":   0.096,
		"m6i.xlarge":  0.192,
		"m6i.2xlarge": 0.384,
		"m6i.4xlarge": 0.768,
		"r6i.large":   0.126,
		"r6i.xlarge":  0.252,
		"r6i.2xlarge": 0.504,
		"r6i.4xlarge": 1.008,
	}
	monthly := make(map[string]float64, len(hourly))
	for k, v := range hourly {
		monthly[k] = round2(v * hoursPerMonth)
	}
	return topology.PriceTable{Currency: "USD", AsOf: "2025-01-01", Monthly: monthly}
}

func costSection(in Inputs, tiers []Tier) CostSection {
	table, source := DefaultPrices(), defaultPriceSource
	if in.Plan.Prices != nil && len(in.Plan.Prices.Monthly) > 0 {
		table, source = *in.Plan.Prices, "plan file (prices:)"
	}
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
