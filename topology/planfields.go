package topology

import (
	"regexp"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan/sizing"
)

// The field tables of the plan file, in the order EncodePlan writes them.

func planFields(p *Plan) []field {
	return []field{
		always(textField("name", &p.Name)),
		always(structField("workload", &p.Workload, workloadFields, nil)),
		structField("slo", &p.SLO, sloFields, p.SLO.IsZero),
		always(listField("zones", &p.Zones, zoneFields, true)),
		always(listField("tiers", &p.Tiers, tierFields, false)),
		listField("links", &p.Links, linkFields, true),
		structField("database", &p.Database, databaseFields, func() bool { return p.Database == sizing.DatabaseSpec{} }),
		ptrField("prices", &p.Prices, priceFields),
		boolField("isolate", &p.Isolate),
		textField("target", &p.Target),
		textField("inventory", &p.Inventory),
		ptrField("tls", &p.TLS, tlsFields),
	}
}

func tlsFields(t *WebTLS) []field {
	return []field{
		boolField("off", &t.Off),
		textField("cert_file", &t.CertFile),
		textField("key_file", &t.KeyFile),
		textField("ca_file", &t.CAFile),
	}
}

func workloadFields(w *sizing.Workload) []field {
	return []field{
		always(intField("named_users", &w.NamedUsers, "3000")),
		always(shareField("concurrency", &w.Concurrency, "60%")),
		always(numberField("tpm", &w.TPM, "5")),
		always(countField("records", &w.Records, "25M", formatCount)),
		numberField("peak_factor", &w.PeakFactor, "1.5"),
		shareField("growth", &w.Growth, "20%"),
		intField("years", &w.Years, "3"),
		classMapField("mix", (*map[sizing.Class]float64)(&w.Mix), true),
		classMapField("delay_ms", &w.DelayMs, false),
		scvField("service_scv", &w.ServiceSCV),
	}
}

// scvField decodes the service times' scv. A number of 0 or less is an
// error here, where the model reads 0 as not given: a plan that writes 0
// means something the model cannot take (a time that never varies).
func scvField(key string, p *float64) field {
	f := numberField(key, p, "0.25")
	dec := f.dec
	f.dec = func(d *decoder, n *yaml.Node, path string) error {
		if err := dec(d, n, path); err != nil {
			return err
		}
		if !(*p > 0 && *p <= 1) {
			return d.errorf(deref(n), path, path+": 0.25   # or leave it out for exponential times (1); crmplan calibrate fits it",
				"must be a squared coefficient of variation above 0 and at most 1, got %s", formatNumber(*p))
		}
		return nil
	}
	return f
}

func sloFields(s *sizing.SLO) []field {
	return []field{
		numberField("p95_ms", &s.P95Ms, "500"),
		shareField("error_rate", &s.ErrorRate, "1%"),
		classSLOField("classes", &s.Classes),
	}
}

// classSLOField decodes per-class objectives, {report: {p95_ms: 1000}};
// keys must be known classes, written in the model's class order.
func classSLOField(key string, p *map[sizing.Class]sizing.ClassSLO) field {
	classes := sizing.Classes()
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			fields := make([]field, len(classes))
			for i, c := range classes {
				fields[i] = field{key: string(c), dec: func(d *decoder, v *yaml.Node, sub string) error {
					var o sizing.ClassSLO
					if err := d.mapping(v, sub, []field{numberField("p95_ms", &o.P95Ms, "1000")}); err != nil {
						return err
					}
					if !(o.P95Ms > 0) {
						return d.errorf(deref(v), sub+".p95_ms", sub+": {p95_ms: 1000}",
							"needs a p95_ms above 0, in milliseconds, got %s", formatNumber(o.P95Ms))
					}
					if *p == nil {
						*p = map[sizing.Class]sizing.ClassSLO{}
					}
					(*p)[c] = o
					return nil
				}}
			}
			return d.mapping(n, path, fields)
		},
		enc: func() *yaml.Node {
			m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			for _, c := range classes {
				if o, ok := (*p)[c]; ok {
					one := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
					one.Content = append(one.Content, text("p95_ms"), plain(formatNumber(o.P95Ms)))
					m.Content = append(m.Content, text(string(c)), one)
				}
			}
			return m
		},
		omit: func() bool { return len(*p) == 0 },
	}
}

func zoneFields(z *Zone) []field {
	return []field{
		always(textField("name", &z.Name)),
		always(textField("kind", &z.Kind)),
		textField("cidr", &z.CIDR),
	}
}

func tierFields(t *TierPlan) []field {
	return []field{
		always(textField("role", &t.Role)),
		always(textField("zone", &t.Zone)),
		textListField("spread", &t.Spread),
		intField("servers", &t.Servers, "2"),
		intField("min", &t.Min, "2"),
		intField("max_servers", &t.MaxServers, "1"),
		boolField("ha", &t.HA),
		intField("cores", &t.Cores, "4"),
		shareField("target_utilization", &t.TargetUtilization, "60%"),
		shareField("visit", &t.Visit, "50%"),
		textField("replication", &t.Replication),
		textField("failover", &t.Failover),
		textField("instance", &t.Instance),
		textField("database", &t.Database),
		classMapField("demand_ms", &t.Demand, false),
	}
}

func linkFields(l *Link) []field {
	return []field{
		always(textField("from", &l.From)),
		always(textField("to", &l.To)),
		intField("port", &l.Port, "8081"),
	}
}

func databaseFields(db *sizing.DatabaseSpec) []field {
	return []field{
		intField("row_bytes", &db.RowBytes, "1024"),
		shareField("index_overhead", &db.IndexOverhead, "30%"),
		shareField("working_set_share", &db.WorkingSetShare, "10%"),
		countField("memory_bytes", &db.MemoryBytes, "16Gi", formatBytes),
	}
}

func priceFields(pt *PriceTable) []field {
	return []field{
		always(textField("currency", &pt.Currency)),
		always(textField("as_of", &pt.AsOf)),
		always(priceMapField("monthly", &pt.Monthly)),
	}
}

// classMapField decodes a map from request class to a number (a service
// demand) or, with share, to a share ("40%"). Keys must be known classes.
func classMapField(key string, p *map[sizing.Class]float64, share bool) field {
	classes := sizing.Classes()
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = string(c)
	}
	example := "12.5"
	if share {
		example = "40%"
	}
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			fields := make([]field, len(classes))
			for i, c := range classes {
				fields[i] = field{key: string(c), dec: func(d *decoder, v *yaml.Node, sub string) error {
					var x float64
					var err error
					if share {
						x, err = d.share(v, sub, example)
					} else {
						err = numberField("", &x, example).dec(d, v, sub)
					}
					if *p == nil {
						*p = map[sizing.Class]float64{}
					}
					(*p)[c] = x
					return err
				}}
			}
			return d.mapping(n, path, fields)
		},
		enc: func() *yaml.Node {
			m := &yaml.Node{Kind: yaml.MappingNode}
			for _, c := range classes {
				if v, ok := (*p)[c]; ok {
					s := formatNumber(v)
					if share {
						s = formatShare(v)
					}
					m.Content = append(m.Content, text(string(c)), plain(s))
				}
			}
			return m
		},
		omit: func() bool { return len(*p) == 0 },
	}
}

// instancePattern is what instance type names look like across clouds
// (m5.large, Standard_D2s_v5, e2-standard-4).
var instancePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// priceMapField decodes instance type -> monthly price; keys are free-form
// and written sorted.
func priceMapField(key string, p *map[string]float64) field {
	return field{
		key: key,
		dec: func(d *decoder, n *yaml.Node, path string) error {
			n = deref(n)
			if isNull(n) {
				return nil
			}
			if n.Kind != yaml.MappingNode {
				return d.errorf(n, path, "monthly: {m5.large: 70}", "%s must map instance types to prices", path)
			}
			*p = map[string]float64{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := deref(n.Content[i])
				if k.Kind != yaml.ScalarNode || !instancePattern.MatchString(k.Value) {
					return d.errorf(k, path, "monthly: {m5.large: 70}", "%q is not an instance type name", k.Value)
				}
				sub := path + "." + k.Value
				if _, dup := (*p)[k.Value]; dup {
					return d.errorf(k, sub, "remove one of the two", "%q is given twice", k.Value)
				}
				d.lines[sub] = k.Line
				var x float64
				if err := numberField("", &x, "70").dec(d, n.Content[i+1], sub); err != nil {
					return err
				}
				(*p)[k.Value] = x
			}
			return nil
		},
		enc: func() *yaml.Node {
			keys := make([]string, 0, len(*p))
			for k := range *p {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			m := &yaml.Node{Kind: yaml.MappingNode}
			for _, k := range keys {
				m.Content = append(m.Content, text(k), plain(formatNumber((*p)[k])))
			}
			return m
		},
		omit: func() bool { return len(*p) == 0 },
	}
}
