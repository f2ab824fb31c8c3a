package reports

import (
	"slices"
	"testing"

	"github.com/crmplan/crmplan/topology"
)

func TestCost(t *testing.T) {
	tiers := []Tier{
		{Role: "web", Servers: 2, Cores: 2},
		{Role: "api", Servers: 3, Cores: 4, Instance: "c6i.xlarge"},
		{Role: "db-primary", Servers: 1, Cores: 8},
	}
	tests := []struct {
		name     string
		prices   *topology.PriceTable
		total    float64
		source   string
		asOf     string
		unpriced []string
	}{
		// m6i.large 0.096 × 730 = 70.08; c6i.xlarge 124.10; r6i.2xlarge 0.504 × 730 = 367.92.
		{"shipped default", nil, 2*70.08 + 3*124.10 + 367.92, defaultPriceSource, "2025-01-01", nil},
		{"plan's own table", &topology.PriceTable{Currency: "EUR", AsOf: "2026-02-01",
			Monthly: map[string]float64{"m6i.large": 60, "c6i.xlarge": 100, "r6i.2xlarge": 300}},
			2*60 + 3*100 + 300, "plan file (prices:)", "2026-02-01", nil},
		{"plan's table lacks a type", &topology.PriceTable{Currency: "EUR", AsOf: "2026-02-01",
			Monthly: map[string]float64{"m6i.large": 60}},
			120, "plan file (prices:)", "2026-02-01", []string{"api (c6i.xlarge)", "db-primary (r6i.2xlarge)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := seedPlan()
			plan.Prices = tt.prices
			c := costSection(Inputs{Plan: plan}, tiers)
			if diff := c.Total - tt.total; diff > 0.005 || diff < -0.005 {
				t.Errorf("total = %.2f, want %.2f", c.Total, tt.total)
			}
			if c.Source != tt.source || c.AsOf != tt.asOf || !slices.Equal(c.Unpriced, tt.unpriced) {
				t.Errorf("source %q as of %q unpriced %q; want %q, %q, %q", c.Source, c.AsOf, c.Unpriced, tt.source, tt.asOf, tt.unpriced)
			}
		})
	}
}
