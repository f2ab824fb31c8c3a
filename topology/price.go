package topology

import (
	"math"
	"sort"
)

// hoursPerMonth is the cloud providers' billing month (365 × 24 / 12).
const hoursPerMonth = 730

// DefaultPriceSource describes DefaultPrices wherever a cost is shown.
const DefaultPriceSource = "shipped default table: AWS EC2 on-demand list prices, us-east-1, Linux, 730 h a month"

// DefaultPrices is the table costs come from when the plan has none: AWS
// EC2 on-demand hourly list prices (us-east-1, Linux) times 730 hours. They
// are indicative; a plan with its own `prices:` section overrides them all.
// The report, preview and size all price from here, so that the same plan
// costs the same everywhere.
func DefaultPrices() PriceTable {
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
		monthly[k] = Round2(v * hoursPerMonth)
	}
	return PriceTable{Currency: "USD", AsOf: "2025-01-01", Monthly: monthly}
}

// PriceTable returns the table p's costs come from and a phrase naming
// where it comes from: the plan's own `prices:` or DefaultPrices.
func (p *Plan) PriceTable() (PriceTable, string) {
	if p != nil && p.Prices != nil && len(p.Prices.Monthly) > 0 {
		t := *p.Prices
		if t.Currency == "" {
			t.Currency = "USD"
		}
		return t, "plan file (prices:)"
	}
	return DefaultPrices(), DefaultPriceSource
}

// Round2 rounds to cents.
func Round2(v float64) float64 { return math.Round(v*100) / 100 }

// Instances is the instance type of every role of the laid plan: the
// plan's `instance:` or DefaultInstance for the cores the estimate gives
// the tier. The report prices these, the Terraform export and the AWS
// target launch them.
func (l Laid) Instances() map[Role]string {
	cores := map[Role]int{}
	for _, t := range l.Estimate.Tiers {
		cores[Role(t.Role)] = t.Cores
	}
	out := map[Role]string{}
	if l.Plan == nil {
		return out
	}
	for _, t := range l.Plan.Tiers {
		r := Role(t.Role)
		out[r] = t.Instance
		if out[r] == "" {
			out[r] = DefaultInstance(r, cores[r])
		}
	}
	return out
}

// PricedHost is one host with the instance type it runs on.
type PricedHost struct {
	Name     string `json:"name" yaml:"name"`
	Role     Role   `json:"role" yaml:"role"`
	Instance string `json:"instance" yaml:"instance"`
}

// Hosts are the laid plan's hosts with their instance types.
func (l Laid) PricedHosts() []PricedHost {
	inst := l.Instances()
	out := make([]PricedHost, 0, len(l.Topology.Hosts))
	for _, h := range l.Topology.Hosts {
		out = append(out, PricedHost{Name: h.Name, Role: h.Role, Instance: inst[h.Role]})
	}
	return out
}

// CostChange is what a plan costs a month, what the deployed hosts cost,
// and the difference, per tier and per host, from one price table.
type CostChange struct {
	Currency string       `json:"currency" yaml:"currency"`
	Source   string       `json:"source" yaml:"source"`
	AsOf     string       `json:"as_of" yaml:"as_of"`
	Planned  float64      `json:"planned_monthly" yaml:"planned_monthly"`
	Deployed float64      `json:"deployed_monthly" yaml:"deployed_monthly"`
	Delta    float64      `json:"delta_monthly" yaml:"delta_monthly"`
	Tiers    []TierCost   `json:"tiers" yaml:"tiers"`
	Hosts    []HostChange `json:"hosts,omitempty" yaml:"hosts,omitempty"` // only hosts whose cost changes
	// Unpriced names the instance types the table lacks; they count as 0.
	Unpriced []string `json:"unpriced,omitempty" yaml:"unpriced,omitempty"`
}

// TierCost is one role's monthly cost, planned and deployed.
type TierCost struct {
	Role     Role    `json:"role" yaml:"role"`
	Servers  int     `json:"servers" yaml:"servers"`
	Planned  float64 `json:"planned_monthly" yaml:"planned_monthly"`
	Deployed float64 `json:"deployed_monthly" yaml:"deployed_monthly"`
	Delta    float64 `json:"delta_monthly" yaml:"delta_monthly"`
}

// HostChange is a host the change adds (+), removes (-) or moves to
// another instance type (~).
type HostChange struct {
	Op       string  `json:"op" yaml:"op"`
	Host     string  `json:"host" yaml:"host"`
	Role     Role    `json:"role" yaml:"role"`
	Instance string  `json:"instance" yaml:"instance"`           // the planned type; the deployed one for -
	Was      string  `json:"was,omitempty" yaml:"was,omitempty"` // the deployed type, for ~
	Delta    float64 `json:"delta_monthly" yaml:"delta_monthly"`
}

// Cost prices the planned hosts against the deployed ones with table.
// Either side may be empty: nothing deployed yet, or everything destroyed.
// Tiers come in the planned hosts' order, then roles only deployed.
func Cost(table PriceTable, source string, planned, deployed []PricedHost) CostChange {
	c := CostChange{Currency: table.Currency, Source: source, AsOf: table.AsOf}
	unpriced := map[string]bool{}
	price := func(inst string) float64 {
		v, ok := table.Monthly[inst]
		if !ok {
			unpriced[inst] = true
		}
		return v
	}
	tiers := map[Role]*TierCost{}
	var order []Role
	tier := func(r Role) *TierCost {
		if tiers[r] == nil {
			tiers[r] = &TierCost{Role: r}
			order = append(order, r)
		}
		return tiers[r]
	}
	was := map[string]PricedHost{}
	for _, h := range deployed {
		was[h.Name] = h
	}
	for _, h := range planned {
		p := price(h.Instance)
		t := tier(h.Role)
		t.Servers++
		t.Planned += p
		old, ok := was[h.Name]
		delete(was, h.Name)
		switch {
		case !ok:
			c.Hosts = append(c.Hosts, HostChange{Op: "+", Host: h.Name, Role: h.Role, Instance: h.Instance, Delta: Round2(p)})
		case old.Instance != h.Instance || old.Role != h.Role:
			q := price(old.Instance)
			tier(old.Role).Deployed += q
			c.Hosts = append(c.Hosts, HostChange{Op: "~", Host: h.Name, Role: h.Role, Instance: h.Instance, Was: old.Instance, Delta: Round2(p - q)})
		default:
			t.Deployed += p
		}
	}
	for _, h := range deployed {
		if _, gone := was[h.Name]; !gone {
			continue
		}
		q := price(h.Instance)
		tier(h.Role).Deployed += q
		c.Hosts = append(c.Hosts, HostChange{Op: "-", Host: h.Name, Role: h.Role, Instance: h.Instance, Delta: Round2(-q)})
	}
	for _, r := range order {
		t := tiers[r]
		t.Planned, t.Deployed = Round2(t.Planned), Round2(t.Deployed)
		t.Delta = Round2(t.Planned - t.Deployed)
		c.Planned += t.Planned
		c.Deployed += t.Deployed
		c.Tiers = append(c.Tiers, *t)
	}
	c.Planned, c.Deployed = Round2(c.Planned), Round2(c.Deployed)
	c.Delta = Round2(c.Planned - c.Deployed)
	for k := range unpriced {
		c.Unpriced = append(c.Unpriced, k)
	}
	sort.Strings(c.Unpriced)
	return c
}
