package wire

// WorkPackages makes sure the Debian packages a host's roles run from are
// on its machine (the ssh target's: PostgreSQL and memcached are the
// machine's own): `crmplan-host agent packages` with a PackagesOp (JSON) as
// payload; the last line of its output is a PackagesReport (JSON).
const WorkPackages = "crmplan-packages"

// PackagesFile is the file in a host's directory that lists, one a line,
// the packages the agent installed there: what destroy lists (or purges),
// and never a package the machine had before.
const PackagesFile = "packages.installed"

// PackagesOp is the payload of a crmplan-packages unit.
type PackagesOp struct {
	Packages []string `json:"packages"`
	// Install lets the agent apt-get install the missing ones (crmplan
	// apply --install-packages); otherwise a missing one is an error.
	Install bool `json:"install,omitempty"`
}

// PackagesReport is what a crmplan-packages unit reports.
type PackagesReport struct {
	// Installed are the packages the agent installed on the machine, this
	// time and before (PackagesFile).
	Installed []string `json:"installed,omitempty"`
}
