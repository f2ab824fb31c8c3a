package provision

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan/provision/target/ssh"
	"github.com/crmplan/crmplan/topology"
)

// Names in the deployed CRM database.
const (
	appDatabase = "crm"
	appUser     = "crm"
	// LoadUserEmail is the seeded account the load test signs in with.
	LoadUserEmail = "admin@example.com"
)

// poolEnv is the environment variable of a crm role's database pool size:
// an api server takes a new one without a restart (CrmService.Update).
const poolEnv = "CRM_DB_MAX_CONNS"

// Stack output names.
const (
	outWebURL = "webUrl"
	// outPasswordKey is the key every seeded user's password is derived
	// from (seededUsers), which apply turns into the inventory's list.
	outPasswordKey = "userPasswordKey"
	// outServiceKey is what docstore and the brokers require of callers.
	outServiceKey = "serviceKey"
)

// Resource output shapes the program reads back.
type (
	plainResource struct {
		pulumi.CustomResourceState
	}
	secretResource struct {
		pulumi.CustomResourceState
		Value pulumi.StringOutput `pulumi:"value"`
	}
	primaryResource struct {
		pulumi.CustomResourceState
		SystemID pulumi.StringOutput `pulumi:"systemId"`
	}
)

// program returns the Pulumi program that deploys layout with the binaries.
func program(l Layout, bins Binaries, crmVersion string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		d := deployer{ctx: ctx, l: l, bins: bins, crmVersion: crmVersion, hosts: map[string]pulumi.Resource{}, pkgs: map[string]pulumi.Resource{}}
		return d.run()
	}
}

type deployer struct {
	ctx        *pulumi.Context
	l          Layout
	bins       Binaries
	crmVersion string
	hosts      map[string]pulumi.Resource
	pkgs       map[string]pulumi.Resource // a host's Packages (packages.go), on the ssh target
	mesh       *meshDeploy                // set by the first CrmService (meshprogram.go)
}

func (d *deployer) run() error {
	// One random key per stack rather than a password per user: the
	// stack's state keeps it (encrypted), a re-apply derives the same
	// passwords, and 3000 users need no 3000 resources.
	pwKey, err := d.secret("user-password-key")
	if err != nil {
		return err
	}
	d.ctx.Export(outPasswordKey, pwKey.Value)
	d.ctx.Export(outWebURL, pulumi.String(d.l.WebURL()))
	for _, h := range d.l.Hosts {
		var res plainResource
		args := pulumi.Map{
			"name": pulumi.String(h.Name), "zone": pulumi.String(h.Zone), "cidr": pulumi.String(h.CIDR),
			"address": pulumi.String(h.Address), "dir": pulumi.String(h.Dir), "target": pulumi.String(d.l.Target),
		}
		if d.l.Target == ssh.Name {
			args["stateDir"], args["stack"] = pulumi.String(d.l.StateDir), pulumi.String(d.l.Stack)
		}
		err := d.ctx.RegisterResource(tokenHost, h.Name, args, &res)
		if err != nil {
			return err
		}
		d.hosts[h.Name] = &res
	}
	// Everything after the hosts reaches them through the mesh.
	nodes, err := d.meshNodes()
	if err != nil {
		return err
	}
	d.mesh = &meshDeploy{nodes: nodes}
	if err := d.packages(nodes); err != nil {
		return err
	}
	if d.l.Primary == nil {
		return d.services(nil, nil)
	}
	dbURLs, schema, err := d.databases(pwKey)
	if err != nil {
		return err
	}
	return d.services(dbURLs, schema)
}

func (d *deployer) secret(purpose string) (*secretResource, error) {
	var res secretResource
	err := d.ctx.RegisterResource(tokenSecret, purpose, pulumi.Map{"purpose": pulumi.String(purpose)}, &res,
		pulumi.AdditionalSecretOutputs([]string{"value"}))
	return &res, err
}

// dbURLs are the CRM's connection URLs: the primary, then the first replica.
type dbURLs struct {
	primary, replica pulumi.StringOutput
}

// databases registers the primary, its replicas and the CRM schema.
func (d *deployer) databases(pwKey *secretResource) (*dbURLs, pulumi.Resource, error) {
	superPw, err := d.secret("postgres-superuser-password")
	if err != nil {
		return nil, nil, err
	}
	appPw, err := d.secret("crm-database-password")
	if err != nil {
		return nil, nil, err
	}
	p := d.l.Primary
	rebuildFrom := d.rebuildFrom()
	var primary primaryResource
	err = d.ctx.RegisterResource(tokenPrimary, p.Name, pulumi.Map{
		"host": pulumi.String(p.Name), "hostDir": pulumi.String(p.Dir), "address": pulumi.String(p.Address),
		"port": pulumi.Int(p.Port), "password": superPw.Value, "settings": pulumi.ToStringMap(d.l.PGSettings),
		"database": pulumi.String(appDatabase), "appUser": pulumi.String(appUser), "appPassword": appPw.Value,
		"retired":     pulumi.Bool(d.promoted(p.Name) == "retired"),
		"rebuildFrom": pulumi.String(rebuildFrom.addr()), "rebuildFromHost": pulumi.String(rebuildFrom.name()),
		"sync":       pulumi.Bool(d.l.Sync && rebuildFrom != nil), // a rebuilt replica honours the plan's replication
		"allowCidrs": pulumi.ToStringArray(allowCIDRs(d.l)),
		"stateDir":   pulumi.String(d.l.StateDir), "stack": pulumi.String(d.l.Stack),
	}, &primary, append(d.needsPackages(p.Name), pulumi.Parent(d.hosts[p.Name]), pulumi.DeleteBeforeReplace(true), pulumi.DependsOn([]pulumi.Resource{d.mesh.nodes}))...)
	if err != nil {
		return nil, nil, err
	}
	urls := &dbURLs{primary: pgURL(appPw.Value, p.Address, p.Port)}
	for i, r := range d.l.Replicas {
		var replica plainResource
		err := d.ctx.RegisterResource(tokenReplica, r.Name, pulumi.Map{
			"host": pulumi.String(r.Name), "hostDir": pulumi.String(r.Dir), "address": pulumi.String(r.Address),
			"port": pulumi.Int(r.Port), "primaryHost": pulumi.String(p.Name), "primaryAddr": pulumi.String(p.addr()),
			"primaryPassword": superPw.Value, "settings": pulumi.ToStringMap(d.l.PGSettings),
			"primarySystemId": primary.SystemID, "sync": pulumi.Bool(d.l.Sync),
			"promoted":   pulumi.Bool(d.promoted(r.Name) == "promoted"),
			"allowCidrs": pulumi.ToStringArray(allowCIDRs(d.l)),
			"stateDir":   pulumi.String(d.l.StateDir), "stack": pulumi.String(d.l.Stack),
		}, &replica, append(d.needsPackages(r.Name), pulumi.Parent(d.hosts[r.Name]), pulumi.DeleteBeforeReplace(true))...)
		if err != nil {
			return nil, nil, err
		}
		if d.promoted(r.Name) == "promoted" {
			// After crmplan failover the CRM writes to the promoted replica
			// and has no replica to read from until the old primary is rebuilt.
			urls.primary = pulumi.All(appPw.Value, replica.ID()).ApplyT(func(v []any) string {
				return pgURLString(v[0].(string), r.Address, r.Port)
			}).(pulumi.StringOutput)
			continue
		}
		if i == 0 {
			// The URL waits for the replica: readers must not start before it.
			urls.replica = pulumi.All(appPw.Value, replica.ID()).ApplyT(func(v []any) string {
				return pgURLString(v[0].(string), r.Address, r.Port)
			}).(pulumi.StringOutput)
		}
	}
	if rebuildFrom != nil {
		// The old primary, rebuilt as the promoted one's replica, serves reads.
		urls.replica = pulumi.All(appPw.Value, primary.SystemID).ApplyT(func(v []any) string {
			return pgURLString(v[0].(string), p.Address, p.Port)
		}).(pulumi.StringOutput)
	}
	if err := d.watchdog(&primary, appPw.Value, urls); err != nil {
		return nil, nil, err
	}
	if !d.l.runsCrm() {
		return urls, nil, nil // no application: no schema to migrate
	}
	var schema plainResource
	err = d.ctx.RegisterResource(tokenDatabase, "crm-database", pulumi.Map{
		"host": pulumi.String(d.currentPrimary().Name), "crmBin": pulumi.String(d.bins.Crm), "crmVersion": pulumi.String(d.crmVersion),
		"databaseUrl": urls.primary, "primarySystemId": primary.SystemID,
		"records": pulumi.Int(int(d.l.Records)), "users": pulumi.Int(d.l.Users), "passwordKey": pwKey.Value,
		"bulkLoad": pulumi.ToStringMap(d.l.BulkLoad),
		"stateDir": pulumi.String(d.l.StateDir), "stack": pulumi.String(d.l.Stack),
	}, &schema, pulumi.DependsOn([]pulumi.Resource{&primary}))
	return urls, &schema, err
}

// promoted says what crmplan failover made of database host name:
// "promoted", "retired" or "".
func (d *deployer) promoted(name string) string {
	switch p := d.l.Promotion; {
	case p == nil:
		return ""
	case p.Promoted == name:
		return "promoted"
	case p.Retired == name:
		return "retired"
	}
	return ""
}

// rebuildFrom is the promoted replica once crmplan failover --rebuild
// asked for the old primary to follow it; nil before.
func (d *deployer) rebuildFrom() *LocalHost {
	p := d.l.Promotion
	if p == nil || !p.Rebuild {
		return nil
	}
	for _, r := range d.l.Replicas {
		if r.Name == p.Promoted {
			return &r
		}
	}
	return nil
}

// currentPrimary is the host that takes writes: the promoted replica after
// crmplan failover, the plan's primary before.
func (d *deployer) currentPrimary() LocalHost {
	if p := d.l.Promotion; p != nil {
		for _, r := range d.l.Replicas {
			if r.Name == p.Promoted {
				return r
			}
		}
	}
	return *d.l.Primary
}

func pgURL(pw pulumi.StringOutput, addr string, port int) pulumi.StringOutput {
	return pw.ApplyT(func(pw string) string { return pgURLString(pw, addr, port) }).(pulumi.StringOutput)
}

func pgURLString(pw, addr string, port int) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(appUser, pw), Host: fmt.Sprintf("%s:%d", addr, port),
		Path: "/" + appDatabase, RawQuery: "sslmode=disable"}
	return u.String()
}

// services registers the CRM roles: api and worker after the schema, web
// after the api servers it balances.
func (d *deployer) services(urls *dbURLs, schema pulumi.Resource) error {
	var apis []pulumi.Resource
	var backends []string
	var cacheKey pulumi.StringOutput
	if len(d.l.ByRole(topology.RoleCache)) > 0 {
		// The api servers sign what they cache: memcached trusts anyone.
		key, err := d.secret("cache-principal-key")
		if err != nil {
			return err
		}
		cacheKey = key.Value
	}
	proxies := d.webAddresses()
	for _, role := range []topology.Role{topology.RoleAPI, topology.RoleWorker} {
		for _, h := range d.l.ByRole(role) {
			env := pulumi.StringMap{"CRM_DATABASE_URL": urls.primary}
			if role == topology.RoleAPI && len(proxies) > 0 {
				// Sign-ins are throttled per client: believe the web tier's X-Forwarded-For.
				env["CRM_TRUSTED_PROXIES"] = pulumi.String(strings.Join(proxies, ","))
			}
			if n := d.l.Pools[role]; n > 0 {
				env[poolEnv] = pulumi.String(strconv.Itoa(n))
			}
			if len(d.l.WebCerts) > 0 {
				env["CRM_SECURE_COOKIES"] = pulumi.String("true") // browsers reach them through HTTPS only
			}
			if urls.replica != (pulumi.StringOutput{}) {
				env["CRM_REPLICA_URL"] = urls.replica
			}
			if caches := d.l.ByRole(topology.RoleCache); role == topology.RoleAPI && len(caches) > 0 {
				// Seed 001: every app server shares the memcached tier, for who holds a session.
				var addrs []string
				for _, c := range caches {
					addrs = append(addrs, fmt.Sprintf("%s:%d", c.Address, c.Port))
				}
				env["CRM_CACHE"] = pulumi.String(strings.Join(addrs, ","))
				env["CRM_CACHE_KEY"] = cacheKey
			}
			res, err := d.service(h, nil, env, schema)
			if err != nil {
				return err
			}
			if role == topology.RoleAPI {
				apis = append(apis, res)
				backends = append(backends, h.URL())
			}
		}
	}
	var args []string
	for _, b := range backends {
		args = append(args, "--backend", b)
	}
	for _, role := range []topology.Role{topology.RoleWeb, topology.RoleFailover} {
		roleArgs := args
		if role == topology.RoleFailover {
			// Seed 004's switch: all traffic to the first healthy backend.
			roleArgs = append([]string{"--mode", "failover"}, args...)
		}
		for _, h := range d.l.ByRole(role) {
			env := pulumi.StringMap{}
			if ck, ok := d.l.WebCerts[h.Name]; ok {
				// In the environment (the start unit's payload, the role's
				// 0600 spec on the host), never in an argument.
				env["CRM_TLS_CERT"] = pulumi.String(ck.Cert)
				env["CRM_TLS_KEY"] = pulumi.ToSecret(pulumi.String(ck.Key)).(pulumi.StringOutput)
			}
			if _, err := d.service(h, roleArgs, env, apis...); err != nil {
				return err
			}
		}
	}
	return d.roleServices(apis, backends, urls, schema)
}

// webAddresses are where the api servers' clients come from: the web tier.
// On the shared loopback of the local target a connection to another host
// leaves from 127.0.0.1, so that counts too.
func (d *deployer) webAddresses() []string {
	var out []string
	loopback := false
	for _, role := range []topology.Role{topology.RoleWeb, topology.RoleFailover} {
		for _, h := range d.l.ByRole(role) {
			out = append(out, h.Address)
			loopback = loopback || strings.HasPrefix(h.Address, "127.")
		}
	}
	if loopback {
		out = append(out, "127.0.0.1")
	}
	return out
}

func (d *deployer) service(h LocalHost, args []string, env pulumi.StringMap, deps ...pulumi.Resource) (pulumi.Resource, error) {
	return d.serviceNamed(h.Name, h, args, env, deps...)
}

// sidecar runs role r beside h's own role on h's machine (Host.Sidecars),
// at h's address on r's port, as a resource of its own, HOST-ROLE.
func (d *deployer) sidecar(h LocalHost, r topology.Role, args []string, env pulumi.StringMap, deps ...pulumi.Resource) (pulumi.Resource, error) {
	s := h
	s.Role, s.Port, s.Sidecars = r, topology.DefaultPort(r), nil
	return d.serviceNamed(h.Name+"-"+string(r), s, args, env, deps...)
}

// serviceNamed registers h's role on h as the resource name.
func (d *deployer) serviceNamed(name string, h LocalHost, args []string, env pulumi.StringMap, deps ...pulumi.Resource) (pulumi.Resource, error) {
	role := h.Role
	if role == topology.RoleFailover {
		role = topology.RoleWeb
	}
	var res plainResource
	opts := append(d.needsPackages(h.Name), pulumi.Parent(d.hosts[h.Name]), pulumi.DeleteBeforeReplace(true))
	if len(deps) > 0 && deps[0] != nil {
		opts = append(opts, pulumi.DependsOn(deps))
	}
	inputs := pulumi.Map{
		"host": pulumi.String(h.Name), "hostDir": pulumi.String(h.Dir), "role": pulumi.String(string(role)),
		"address": pulumi.String(h.Address), "port": pulumi.Int(h.Port), "crmBin": pulumi.String(d.bins.Crm),
		"crmVersion": pulumi.String(d.crmVersion), "args": pulumi.ToStringArray(args), "env": env,
	}
	meshOpts, err := d.viaMesh(h, role, args, inputs)
	if err != nil {
		return nil, err
	}
	err = d.ctx.RegisterResource(tokenCRMService, name, inputs, &res, append(opts, meshOpts...)...)
	return &res, err
}
