package provision

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/topology"
)

// Names in the marketing database, apart from the CRM's.
const (
	marketingDatabase = "marketing"
	marketingUser     = "marketing"
	// marketingPool is each marketing server's connections to its
	// database: it holds campaigns, a few queries per call.
	marketingPool = 8
)

// marketingSettings are the marketing database's postgresql.conf values.
// It keeps campaigns and their recipients, not the CRM's records, so it
// gets small fixed settings rather than the sizing's: small shared buffers
// start fast (seed 000 is applied by many end-to-end tests) and leave the
// machine's memory to the CRM's primary.
func marketingSettings(servers int) map[string]string {
	return map[string]string{
		"shared_buffers":  "16MB",
		"max_connections": strconv.Itoa(marketingPool*servers + 10), // and psql, the agent's checks
	}
}

// marketingDatabases registers every marketing-db host's PostgreSQL
// exactly as the CRM's primary is: a PostgresPrimary, which the host's
// agent initialises and starts through the mesh. It returns each host's
// connection URL and resource, by host name. No replica: seed 000 names
// none for it.
func (d *deployer) marketingDatabases() (map[string]pulumi.StringOutput, map[string]pulumi.Resource, error) {
	hosts := d.l.ByRole(topology.RoleMarketingDB)
	if len(hosts) == 0 {
		return nil, nil, nil
	}
	superPw, err := d.secret("marketing-db-superuser-password")
	if err != nil {
		return nil, nil, err
	}
	appPw, err := d.secret("marketing-database-password")
	if err != nil {
		return nil, nil, err
	}
	urls, resources := map[string]pulumi.StringOutput{}, map[string]pulumi.Resource{}
	settings := marketingSettings(len(d.l.ByRole(topology.RoleMarketing)))
	for _, h := range hosts {
		var res primaryResource
		err := d.ctx.RegisterResource(tokenPrimary, h.Name, pulumi.Map{
			"host": pulumi.String(h.Name), "hostDir": pulumi.String(h.Dir), "address": pulumi.String(h.Address),
			"port": pulumi.Int(h.Port), "password": superPw.Value, "settings": pulumi.ToStringMap(settings),
			"database": pulumi.String(marketingDatabase), "appUser": pulumi.String(marketingUser), "appPassword": appPw.Value,
			"allowCidrs": pulumi.ToStringArray(allowCIDRsTo(d.l, topology.RoleMarketingDB)),
			"stateDir":   pulumi.String(d.l.StateDir), "stack": pulumi.String(d.l.Stack),
		}, &res, append(d.needsPackages(h.Name), pulumi.Parent(d.hosts[h.Name]), pulumi.DeleteBeforeReplace(true),
			pulumi.DependsOn([]pulumi.Resource{d.mesh.nodes}))...)
		if err != nil {
			return nil, nil, err
		}
		// The URL waits for the server: the marketing server must not
		// start before its database exists.
		urls[h.Name] = pulumi.All(appPw.Value, res.SystemID).ApplyT(func(v []any) string {
			return marketingURL(v[0].(string), h.Address, h.Port)
		}).(pulumi.StringOutput)
		resources[h.Name] = &res
	}
	return urls, resources, nil
}

func marketingURL(pw, addr string, port int) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(marketingUser, pw), Host: fmt.Sprintf("%s:%d", addr, port),
		Path: "/" + marketingDatabase, RawQuery: "sslmode=disable"}
	return u.String()
}

// marketingServices runs the marketing servers (crm marketing), each on
// its database and reading the CRM's contacts from the api servers. The api server checks the
// caller's token: the marketing server never touches the CRM's database
// (the policy's link is marketing -> api, not marketing -> db-primary).
func (d *deployer) marketingServices(apis []pulumi.Resource, apiURLs []string) error {
	urls, dbs, err := d.marketingDatabases()
	if err != nil {
		return err
	}
	hosts := d.l.ByRole(topology.RoleMarketing)
	if len(hosts) == 0 {
		return nil
	}
	if len(apiURLs) == 0 {
		return crmplan.Errorf(crmplan.EINVALID, "the marketing server reads the CRM's contacts through its api servers, and the plan has none").
			In(hosts[0].Name).Try("add a tier to the plan: - {role: api, zone: lan}")
	}
	for i, h := range hosts {
		db := d.nearest(h, topology.RoleMarketingDB)
		if db == nil {
			return crmplan.Errorf(crmplan.EINVALID, "the marketing server keeps its campaigns in a marketing-db, and the plan has none").
				In(h.Name).Try("add a tier to the plan: - {role: marketing-db, zone: lan}")
		}
		env := pulumi.StringMap{"CRM_DATABASE_URL": urls[db.Name], poolEnv: pulumi.String(strconv.Itoa(marketingPool))}
		// Two api servers, the second asked when the first does not
		// answer (a rolling deploy restarts them one at a time), the
		// marketing servers starting at different ones. The plan's first
		// two only: scaling the api tier must not change the marketing
		// server's arguments, which would restart it under its users.
		var args []string
		for k := range min(2, len(apiURLs)) {
			args = append(args, "--crm", apiURLs[(i+k)%min(2, len(apiURLs))])
		}
		if _, err := d.service(h, args, env, append([]pulumi.Resource{dbs[db.Name]}, apis...)...); err != nil {
			return err
		}
	}
	return nil
}
