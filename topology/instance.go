package topology

// DefaultInstance picks a cloud instance type for a tier whose plan names
// none (TierPlan.Instance): memory-optimized for the database, whose working
// set wants RAM, general purpose otherwise, sized by cores (2 vCPU per
// "large"). The report prices these names and the Terraform export launches
// them, so both must agree: that is why it lives in the domain.
func DefaultInstance(role Role, cores int) string {
	family := "m6i"
	if role == RoleDBPrimary || role == RoleDBReplica || role == RoleMarketingDB {
		family = "r6i"
	}
	switch {
	case cores <= 2:
		return family + ".large"
	case cores <= 4:
		return family + ".xlarge"
	case cores <= 8:
		return family + ".2xlarge"
	default:
		return family + ".4xlarge"
	}
}
