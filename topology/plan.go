package topology

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/sizing"
)

// NewPlan returns seed 000's (SimpleCRM) layout for a bare workload: the
// presentation tier (web: load balancer and UI) in the DMZ; two or more
// application servers, a PostgreSQL primary with an asynchronous replica,
// the ESB integration server and the ETL migration server in the LAN. The
// loopback ranges are the local target's: DMZ 127.10.1.0/24, LAN
// 127.10.2.0/24. Server counts are left to the model, except the minimum of
// two app servers the seed asks for.
func NewPlan(name string, w sizing.Workload) *Plan {
	tier := func(role Role, zone string) TierPlan {
		return TierPlan{TierSpec: sizing.TierSpec{Role: string(role)}, Zone: zone}
	}
	api := tier(RoleAPI, "lan")
	api.Min = 2
	replica := tier(RoleDBReplica, "lan")
	replica.Replication = Async
	return &Plan{
		Name:     name,
		Workload: w,
		SLO:      sizing.DefaultSLO(),
		Zones: []Zone{
			{Name: "dmz", Kind: DMZ, CIDR: "127.10.1.0/24"},
			{Name: "lan", Kind: LAN, CIDR: "127.10.2.0/24"},
		},
		Tiers: []TierPlan{
			tier(RoleWeb, "dmz"),
			api,
			tier(RoleDBPrimary, "lan"),
			replica,
			tier(RoleIntegration, "lan"),
			tier(RoleETL, "lan"),
		},
	}
}

// AddLoadgen gives p load-generator hosts, when it has none: a loadgen
// tier, sized by the model like any tier, in its first zone of kind
// outside, or in a new one, "users" on 127.10.0.0/24 (the examples' ranges
// count zones from 127.10.1.0/24). Validate catches a plan whose own zones
// already hold that range.
func (p *Plan) AddLoadgen() {
	for _, t := range p.Tiers {
		if Role(t.Role) == RoleLoadgen {
			return
		}
	}
	zone := ""
	for _, z := range p.Zones {
		if z.Kind == Outside {
			zone = z.Name
			break
		}
	}
	if zone == "" {
		zone = "users"
		p.Zones = append([]Zone{{Name: zone, Kind: Outside, CIDR: "127.10.0.0/24"}}, p.Zones...)
	}
	p.Tiers = append(p.Tiers, TierPlan{TierSpec: sizing.TierSpec{Role: string(RoleLoadgen)}, Zone: zone})
}

// Model returns the sizing model of the plan: its workload, SLO, database
// assumptions and one TierSpec per tier, in plan order (so "tiers[2]" names
// the same tier in both), with sizing's defaults applied. A tier spread over
// several zones gets at least one server per zone.
func (p *Plan) Model() sizing.Model {
	m := sizing.Model{Workload: p.Workload, SLO: p.SLO, Database: p.Database}
	m.Tiers = make([]sizing.TierSpec, len(p.Tiers))
	for i, t := range p.Tiers {
		spec := t.TierSpec
		if n := 1 + len(t.Spread); len(t.Spread) > 0 && spec.Min < n {
			spec.Min = n
		}
		if Role(t.Role) == RoleDBPrimary {
			// One writable primary, also when the plan gives its own demand
			// (sizing then fills no cap): more load means a bigger server.
			spec.MaxServers = 1
		}
		m.Tiers[i] = spec
	}
	return m.WithDefaults()
}

// Validate checks the plan: the workload, zones, tiers and links, the
// network policy the links must keep, and then everything sizing checks.
// Errors are *crmplan.Error with code EINVALID, placed at the plan-file path
// of the field ("tiers[0].role"); DecodePlan adds the file and line.
func (p *Plan) Validate() error {
	var ix planIndex
	for _, check := range []func() *crmplan.Error{p.checkName, p.checkWorkload, p.checkZones,
		func() *crmplan.Error { ix = p.index(); return p.checkTiers(ix) },
		func() *crmplan.Error { return p.checkLinks(ix) }, p.checkPrices, p.checkTarget} {
		if err := check(); err != nil {
			return err
		}
	}
	if _, err := sizing.Size(p.Model()); err != nil {
		return err
	}
	return nil
}

// checkTarget: the plan's target is one apply knows, and the ssh target's
// machines are listed in an inventory.
func (p *Plan) checkTarget() *crmplan.Error {
	switch p.Target {
	case "", "local":
		if p.Inventory != "" {
			return invalid("inventory", "target: ssh", "an inventory lists machines of the ssh target, and the plan's target is %q", p.Target)
		}
	case "ssh":
		if p.Isolate {
			return invalid("isolate", "remove isolate: true (the ssh target's machines are isolated by their own network)", "isolate: true is the local target's")
		}
		if p.Inventory == "" {
			return invalid("target", "inventory: machines.yaml", "the ssh target needs an inventory of its machines")
		}
	default:
		return invalid("target", "target: ssh", "unknown target %q (want local or ssh)", p.Target)
	}
	return nil
}

func invalid(path, hint, format string, args ...any) *crmplan.Error {
	return crmplan.Errorf(crmplan.EINVALID, format, args...).In(path).Try("%s", hint)
}

// namePattern keeps plan, zone and host names usable as Pulumi stack and
// resource names, directory names and DNS labels alike.
var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (p *Plan) checkName() *crmplan.Error {
	if !namePattern.MatchString(p.Name) {
		return invalid("name", "name: simplecrm",
			"%q is not a plan name: use lower-case letters, digits and dashes", p.Name)
	}
	return nil
}

// checkWorkload repeats sizing's checks of the four figures every plan
// gives, so their hints are edits of the plan file rather than flags.
func (p *Plan) checkWorkload() *crmplan.Error {
	w := p.Workload
	switch {
	case w.NamedUsers <= 0:
		return invalid("workload.named_users", "named_users: 3000", "must be above 0, got %d", w.NamedUsers)
	case !(w.Concurrency > 0 && w.Concurrency <= 1):
		return invalid("workload.concurrency", "concurrency: 60%",
			"must be a share of named users above 0%% and at most 100%%, got %s", formatShare(w.Concurrency))
	case !(w.TPM > 0):
		return invalid("workload.tpm", "tpm: 5", "must be requests per active session per minute above 0, got %v", w.TPM)
	case w.Records < 0:
		return invalid("workload.records", "records: 25M", "must be 0 or more, got %d", w.Records)
	}
	return nil
}

// planIndex finds a zone by name and the zones of a role's tier without
// a walk through the plan each time: plans of thousands of zones and links
// made those walks quadratic (20 links from a tier spread over 15,000
// zones took 25 s of CPU).
type planIndex struct {
	zones map[string]Zone
	roles map[Role][]Zone // the zones of the first tier of each role
}

func (p *Plan) index() planIndex {
	ix := planIndex{zones: make(map[string]Zone, len(p.Zones)), roles: map[Role][]Zone{}}
	for _, z := range slices.Backward(p.Zones) { // the first of a name wins
		ix.zones[z.Name] = z
	}
	for _, t := range p.Tiers {
		r := Role(t.Role)
		if _, seen := ix.roles[r]; seen {
			continue
		}
		zs := []Zone{}
		for _, name := range append([]string{t.Zone}, t.Spread...) {
			if z, ok := ix.zones[name]; ok {
				zs = append(zs, z)
			}
		}
		ix.roles[r] = zs
	}
	return ix
}

func (p *Plan) zoneNames() []string {
	names := make([]string, len(p.Zones))
	for i, z := range p.Zones {
		names[i] = z.Name
	}
	return names
}

func (p *Plan) checkZones() *crmplan.Error {
	if len(p.Zones) == 0 {
		return invalid("zones", "zones: [{name: dmz, kind: dmz, cidr: 127.10.1.0/24}, {name: lan, kind: lan, cidr: 127.10.2.0/24}]",
			"a plan needs at least one zone")
	}
	if err := checkZoneList(p.Zones); err != nil {
		return err
	}
	return p.checkRanges()
}

// checkRanges refuses what apply would: size and apply read a plan through
// the same checks, so that a plan size accepts is not refused by apply for
// its ranges. The local target places hosts on this machine's loopback
// (127.0.0.0/8); the isolated one (isolate: true) in network namespaces,
// where a loopback range becomes a private one (Isolated) that must not
// meet the plan's other ranges. What is left to apply is what depends on
// the machine it runs on: an isolated range the machine already routes.
func (p *Plan) checkRanges() *crmplan.Error {
	if p.Target == "ssh" {
		// The machines' own ranges, any: the ssh target checks that each
		// holds its machines, and the loopback ones stand for theirs.
		return nil
	}
	ranges := make([]netip.Prefix, len(p.Zones))
	for i, z := range p.Zones {
		pf := netip.MustParsePrefix(z.CIDR) // checkZoneList parsed it
		if !p.Isolate && !pf.Addr().IsLoopback() {
			return invalid(fmt.Sprintf("zones[%d].cidr", i), "cidr: 127.10.1.0/24, or isolate: true (or target: ssh, for existing machines) to keep a private range",
				"%s is not a loopback range (127.0.0.0/8): without isolate, hosts live on this machine's loopback", pf)
		}
		ranges[i] = netip.PrefixFrom(Isolated(pf.Addr()), pf.Bits())
	}
	if !p.Isolate {
		return nil // loopback ranges, which checkZoneList found apart
	}
	if i, j, ok := overlap(ranges); ok {
		return invalid(fmt.Sprintf("zones[%d].cidr", i), "give each zone its own range, e.g. 10.20.1.0/24",
			"isolated, %s is %s, which overlaps zone %q's %s", p.Zones[i].CIDR, ranges[i], p.Zones[j].Name, ranges[j])
	}
	return nil
}

func (p *Plan) checkTiers(ix planIndex) *crmplan.Error {
	if len(p.Tiers) == 0 {
		return invalid("tiers", "tiers: [{role: web, zone: dmz}, {role: api, zone: lan}]", "a plan needs at least one tier")
	}
	seen := map[string]int{}
	for i, t := range p.Tiers {
		at := fmt.Sprintf("tiers[%d]", i)
		if err := p.checkTier(ix, at, t); err != nil {
			return err
		}
		if j, dup := seen[t.Role]; dup {
			return invalid(at+".role", "merge the two tiers, or spread one tier over several zones with spread: [...]",
				"role %q is already tiers[%d]'s", t.Role, j)
		}
		seen[t.Role] = i
	}
	if _, ok := seen[string(RoleDBReplica)]; ok {
		if _, ok := seen[string(RoleDBPrimary)]; !ok {
			return invalid(fmt.Sprintf("tiers[%d].role", seen[string(RoleDBReplica)]), "add a tier: {role: db-primary, zone: lan}",
				"a db-replica needs a db-primary to follow")
		}
	}
	return nil
}

func (p *Plan) checkTier(ix planIndex, at string, t TierPlan) *crmplan.Error {
	role := Role(t.Role)
	if !role.Known() {
		return invalid(at+".role", "use one of: "+joinNames(roleNames()), "unknown role %q%s", t.Role, didYouMean(t.Role, roleNames()))
	}
	zones := append([]string{t.Zone}, t.Spread...)
	seen := map[string]bool{}
	for k, name := range zones {
		field := at + ".zone"
		if k > 0 {
			field = fmt.Sprintf("%s.spread[%d]", at, k-1)
		}
		z, ok := ix.zones[name]
		if !ok {
			return invalid(field, "use one of the plan's zones: "+joinNames(p.zoneNames()),
				"unknown zone %q%s", name, didYouMean(name, p.zoneNames()))
		}
		if seen[name] {
			return invalid(field, "list each zone once", "zone %q is listed twice", name)
		}
		seen[name] = true
		if role.IsData() && z.Kind == DMZ {
			return invalid(field, "move the tier into a LAN zone",
				"%s keeps data and may not live in the DMZ zone %q", role, name)
		}
		// Load generators stand where users are, and only they do: a
		// generator inside the stack's zones would load it from within.
		if (role == RoleLoadgen) != (z.Kind == Outside) {
			if role == RoleLoadgen {
				return invalid(field, "add a zone `{name: outside, kind: outside, cidr: 127.10.0.0/24}` and put the loadgen tier there",
					"a load generator belongs in a zone of kind outside, not the %s zone %q", z.Kind, name)
			}
			return invalid(field, "move the tier into a dmz or lan zone",
				"the outside zone %q holds only load generators, not %s", name, role)
		}
	}
	switch {
	case role == RoleDBPrimary && (t.Servers > 1 || t.Min > 1 || t.HA || len(t.Spread) > 0):
		return invalid(at, "drop servers, min, ha and spread from the db-primary tier; add a db-replica tier for a standby",
			"a PostgreSQL primary is one server: streaming replication has one writable primary")
	case t.Replication != "" && role != RoleDBReplica:
		return invalid(at+".replication", "remove replication; only a db-replica tier has it", "only a db-replica replicates")
	case t.Replication != "" && t.Replication != Async && t.Replication != Sync:
		return invalid(at+".replication", "replication: async", "unknown replication %q: use async or sync", t.Replication)
	case t.Failover != "" && role != RoleDBReplica:
		return invalid(at+".failover", "move failover to the db-replica tier", "only a db-replica tier fails over")
	case t.Failover != "" && t.Failover != Manual && t.Failover != Automatic:
		return invalid(at+".failover", "failover: automatic", "unknown failover %q: use manual or automatic%s",
			t.Failover, didYouMean(string(t.Failover), []string{string(Manual), string(Automatic)}))
	case t.Database != "" && role != RoleDBPrimary && role != RoleDBReplica:
		return invalid(at+".database", "remove database; only the db-primary and db-replica tiers have it", "only a database tier runs on a database engine")
	case t.Database != "" && t.Database != EnginePostgres && t.Database != EngineRDS:
		return invalid(at+".database", "database: rds", "unknown database %q: use postgres (crmplan's PostgreSQL on the hosts) or rds (AWS RDS, on --target aws)%s",
			t.Database, didYouMean(string(t.Database), []string{string(EnginePostgres), string(EngineRDS)}))
	}
	return nil
}

func (p *Plan) checkLinks(ix planIndex) *crmplan.Error {
	var roles []string
	for _, t := range p.Tiers {
		roles = append(roles, t.Role)
	}
	for i, l := range p.Links {
		at := fmt.Sprintf("links[%d]", i)
		for _, end := range []struct {
			name string
			role Role
		}{{"from", l.From}, {"to", l.To}} {
			if _, ok := ix.roles[end.role]; !ok {
				return invalid(at+"."+end.name, "link roles the plan has: "+joinNames(roles),
					"no tier has role %q%s", end.role, didYouMean(string(end.role), roles))
			}
		}
		if l.Port != 0 && l.Port != DefaultPort(l.To) {
			return invalid(at+".port", fmt.Sprintf("port: %d, or leave port out", DefaultPort(l.To)),
				"%s hosts listen on %d, not %d", l.To, DefaultPort(l.To), l.Port)
		}
		if l.Port == 0 {
			l.Port = DefaultPort(l.To) // what Build will allow, and what the error should name
		}
		if err := policy(l, ix.roles[l.From]); err != nil {
			return err.In(at)
		}
	}
	return nil
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// checkPrices checks the price table the report's cost estimate uses.
func (p *Plan) checkPrices() *crmplan.Error {
	pt := p.Prices
	if pt == nil {
		return nil
	}
	if !currencyPattern.MatchString(pt.Currency) {
		return invalid("prices.currency", "currency: EUR", "%q is not an ISO 4217 currency code", pt.Currency)
	}
	if _, err := time.Parse(time.DateOnly, pt.AsOf); err != nil {
		return invalid("prices.as_of", "as_of: 2025-01-31", "%q is not a date (YYYY-MM-DD)", pt.AsOf)
	}
	if len(pt.Monthly) == 0 {
		return invalid("prices.monthly", "monthly: {m5.large: 70}", "no prices given")
	}
	keys := make([]string, 0, len(pt.Monthly))
	for k := range pt.Monthly {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad price, the same on every run
	for _, k := range keys {
		if !instancePattern.MatchString(k) {
			return invalid("prices.monthly", "monthly: {m5.large: 70}", "%q is not an instance type name", k)
		}
		if v := pt.Monthly[k]; !(v >= 0) || math.IsInf(v, 0) {
			return invalid("prices.monthly."+k, k+": 70", "price must be 0 or more, got %v", v)
		}
	}
	return nil
}
