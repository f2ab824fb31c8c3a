package reports

import (
	"github.com/crmplan/crmplan/loadgen"
	"github.com/crmplan/crmplan/topology"
)

// measuredTier finds the load test's measurement of role, if any.
func measuredTier(in Inputs, role string) (loadgen.TierMeasurement, bool) {
	if in.Result == nil {
		return loadgen.TierMeasurement{}, false
	}
	for _, m := range in.Result.Tiers {
		if m.Role == role {
			return m, true
		}
	}
	return loadgen.TierMeasurement{}, false
}

// roles lists the estimate's tiers in their order, the order every table and
// chart of the report uses.
func roles(in Inputs) []string {
	var out []string
	if in.Estimate != nil {
		for _, t := range in.Estimate.Tiers {
			out = append(out, t.Role)
		}
		return out
	}
	if len(in.Sweep) > 0 {
		for _, t := range in.Sweep[0].Tiers {
			out = append(out, t.Role)
		}
	}
	return out
}

func whatIfSection(in Inputs) WhatIfSection {
	if len(in.Sweep) == 0 {
		return WhatIfSection{Missing: missingSweep}
	}
	s := WhatIfSection{Roles: roles(in)}
	for _, p := range in.Sweep {
		wp := WhatIfPoint{NamedUsers: p.Workload.NamedUsers, RequestsPerSecond: p.Workload.DesignRate,
			Servers: map[string]int{}, P95Ms: p.EndToEnd.P95Ms, MeetsSLO: p.MeetsSLO}
		for _, t := range p.Tiers {
			wp.Servers[t.Role] += t.Servers
			wp.TotalServers += t.Servers
		}
		if p.MeetsSLO {
			s.LastMeetingSLO = max(s.LastMeetingSLO, wp.NamedUsers)
		}
		s.Points = append(s.Points, wp)
	}
	return s
}

func growthSection(in Inputs) GrowthSection {
	w := in.Plan.Workload
	if w.Growth <= 0 || w.Years <= 0 {
		return GrowthSection{Missing: missingGrowth}
	}
	if len(in.Projection) < 2 {
		return GrowthSection{Missing: missingProject}
	}
	s := GrowthSection{Growth: w.Growth, Roles: roles(in)}
	for _, y := range in.Projection {
		gy := GrowthYear{Year: y.Year, NamedUsers: y.NamedUsers, RequestsPerSecond: y.RequestsPerSecond, Servers: y.Servers}
		for _, n := range y.Servers {
			gy.TotalServers += n
		}
		s.Years = append(s.Years, gy)
	}
	// Compare with the servers the design has, not with year 0 of the
	// projection: the design may already be sized for part of the growth.
	have := in.Projection[0].Servers
	if in.Estimate != nil {
		have = map[string]int{}
		for _, t := range in.Estimate.Tiers {
			have[t.Role] += t.Servers
		}
	}
	for _, role := range s.Roles {
		for _, y := range in.Projection {
			if y.Servers[role] > have[role] {
				s.Next = append(s.Next, NextServer{Role: role, Year: y.Year, NamedUsers: y.NamedUsers,
					From: have[role], To: y.Servers[role]})
				break
			}
		}
	}
	return s
}

func databaseSection(in Inputs) DatabaseSection {
	if in.Estimate == nil {
		return DatabaseSection{Missing: missingEstimate}
	}
	e := in.Estimate
	d := DatabaseSection{Records: e.Workload.Records, DesignRecords: e.Workload.DesignRecords,
		StorageBytes: e.Database.StorageBytes, WorkingSetBytes: e.Database.WorkingSetBytes,
		MemoryBytes: e.Database.MemoryBytes, PoolPerAppServer: e.Database.PoolPerAppServer, Pools: e.Database.Pools,
		Settings: e.Database.Settings, Replication: "none"}
	if in.Inventory != nil {
		d.SeededRecords = in.Inventory.Records
	}
	for _, t := range e.Tiers {
		if t.Role == string(topology.RoleDBReplica) {
			d.Replicas += t.Servers
		}
	}
	if d.Replicas > 0 {
		d.Replication = string(topology.Async)
		for _, p := range in.Plan.Tiers {
			if p.Role == string(topology.RoleDBReplica) && p.Replication != "" {
				d.Replication = string(p.Replication)
			}
		}
	}
	return d
}
