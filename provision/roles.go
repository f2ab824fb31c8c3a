package provision

import (
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/topology"
)

// roleServices registers the crm roles beyond web, api and worker: the
// integrators' key-value store, the ESB over the api servers, document
// storage, the pub/sub brokers and the access proxy in front of the
// integrator cluster (or the web tier).
func (d *deployer) roleServices(apis []pulumi.Resource, apiURLs []string, urls *dbURLs, schema pulumi.Resource) error {
	if err := d.etlServices(urls, schema); err != nil {
		return err
	}
	keyEnv, err := d.serviceKeyEnv()
	if err != nil {
		return err
	}
	stores, err := d.kvServices(keyEnv)
	if err != nil {
		return err
	}
	relays, err := d.mailServices(keyEnv)
	if err != nil {
		return err
	}
	var esbs []pulumi.Resource
	var esbURLs []string
	for _, h := range d.l.ByRole(topology.RoleIntegration) {
		args, env := backendArgs(apiURLs), pulumi.StringMap{}
		if kv := d.nearest(h, topology.RoleKV); kv != nil {
			// The key-value store takes the service key as its password.
			args, env = append(args, "--kv", net.JoinHostPort(kv.Address, strconv.Itoa(kv.Port))), keyEnv
		}
		if relay := d.relayOf(h); relay != "" {
			// An api server its balancer ejects is mailed to the operators.
			args, env = append(args, "--mail", relay), keyEnv
		}
		res, err := d.service(h, args, env, append(append(apis, stores...), relays...)...)
		if err != nil {
			return err
		}
		esbs, esbURLs = append(esbs, res), append(esbURLs, h.URL())
	}
	for _, h := range d.l.ByRole(topology.RoleDocStore) {
		if _, err := d.service(h, []string{"--dir", filepath.Join(h.Dir, "documents")}, keyEnv); err != nil {
			return err
		}
	}
	for _, h := range d.l.ByRole(topology.RoleCache) {
		if _, err := d.service(h, nil, pulumi.StringMap{}); err != nil { // memcached's socket lives in the host dir
			return err
		}
	}
	if err := d.queueServices(keyEnv); err != nil {
		return err
	}
	if err := d.schedulerServices(keyEnv, relays); err != nil {
		return err
	}
	if err := d.vpnServices(); err != nil {
		return err
	}
	consoles, err := d.adminServices(keyEnv, esbURLs)
	if err != nil {
		return err
	}
	if err := d.marketingServices(apis, apiURLs); err != nil {
		return err
	}
	return d.proxyServices(esbs, esbURLs, apiURLs, consoles)
}

// adminServices runs the admin consoles over the integrator cluster: its
// members, brokers, schedulers and key-value store. It returns their URLs
// for the proxy.
func (d *deployer) adminServices(keyEnv pulumi.StringMap, esbURLs []string) ([]string, error) {
	var urls []string
	for _, h := range d.l.ByRole(topology.RoleAdmin) {
		// The members as --backend (crm admin's alias of --integration):
		// the agent keeps those in a file the console re-reads, so a
		// scaled integrator tier does not restart it.
		args := backendArgs(esbURLs)
		for _, b := range d.l.ByRole(topology.RoleQueue) {
			args = append(args, "--broker", b.URL())
		}
		for _, s := range d.l.ByRole(topology.RoleScheduler) {
			args = append(args, "--scheduler", s.URL())
		}
		if kv := d.nearest(h, topology.RoleKV); kv != nil {
			args = append(args, "--kv", net.JoinHostPort(kv.Address, strconv.Itoa(kv.Port)))
		}
		if _, err := d.service(h, args, keyEnv); err != nil {
			return nil, err
		}
		urls = append(urls, h.URL())
	}
	return urls, nil
}

// serviceKeyEnv is the environment that gives docstore, the brokers and
// the scheduler the stack's service key (finding 8: those services took
// anyone who reached them). It travels in the start unit's payload and
// the agent keeps it in the role's 0600 spec: never in an argument. A
// stack without those roles gets no key, and so no new resource.
func (d *deployer) serviceKeyEnv() (pulumi.StringMap, error) {
	if len(d.l.ByRole(topology.RoleDocStore))+len(d.l.ByRole(topology.RoleQueue))+len(d.l.ByRole(topology.RoleScheduler))+
		len(d.l.ByRole(topology.RoleKV))+len(d.l.ByRole(topology.RoleMail))+len(d.l.ByRole(topology.RoleAdmin)) == 0 {
		return pulumi.StringMap{}, nil
	}
	key, err := d.secret("service-key")
	if err != nil {
		return nil, err
	}
	d.ctx.Export(outServiceKey, key.Value) // for the inventory: the operator's own calls
	return pulumi.StringMap{"CRM_SERVICE_KEY": key.Value}, nil
}

// kvServices runs the key-value stores (Redis, crm kv) with the service
// key as their password.
func (d *deployer) kvServices(keyEnv pulumi.StringMap) ([]pulumi.Resource, error) {
	var out []pulumi.Resource
	for _, h := range d.l.ByRole(topology.RoleKV) {
		// Its data and socket in kv/ of the host directory, the working
		// directory of every role: a unix socket path is limited to 108
		// bytes, a state dir is not.
		res, err := d.service(h, nil, keyEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// nearest is the host of role r in h's zone, else the first of the plan's,
// else nil.
func (d *deployer) nearest(h LocalHost, r topology.Role) *LocalHost {
	hosts := d.l.ByRole(r)
	for i := range hosts {
		if hosts[i].Zone == h.Zone {
			return &hosts[i]
		}
	}
	if len(hosts) > 0 {
		return &hosts[0]
	}
	return nil
}

// mailServices runs the mail tier's relays (crm mail), each delivering
// into maildir/ of its host directory, then a relay on every machine whose
// role mails (Host.Sidecars: seed 002's ARMAIL "1 per machine"), which
// hands what its machine sends on to the nearest of the tier's. It returns
// them all: a role that mails starts after its machine's relay.
func (d *deployer) mailServices(keyEnv pulumi.StringMap) ([]pulumi.Resource, error) {
	var out []pulumi.Resource
	for _, h := range d.l.ByRole(topology.RoleMail) {
		res, err := d.service(h, []string{"--maildir", filepath.Join(h.Dir, "maildir"), "--domain", h.Name}, keyEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	tier := out
	for _, h := range d.l.Hosts {
		if !slices.Contains(h.Sidecars, topology.RoleMail) {
			continue
		}
		m := d.nearest(h, topology.RoleMail)
		if m == nil {
			continue
		}
		res, err := d.sidecar(h, topology.RoleMail, []string{"--forward", m.addr(), "--domain", h.Name}, keyEnv, tier...)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// relayOf is the mail relay h's role sends through: its own machine's
// (Host.Sidecars), else the nearest of the mail tier's; "" when the plan
// has no mail tier.
func (d *deployer) relayOf(h LocalHost) string {
	if slices.Contains(h.Sidecars, topology.RoleMail) {
		return net.JoinHostPort(h.Address, strconv.Itoa(topology.DefaultPort(topology.RoleMail)))
	}
	return d.nearest(h, topology.RoleMail).addr()
}

// schedulerServices points each scheduler at the workers and the brokers,
// its own zone's broker first, and its failures at its machine's relay.
func (d *deployer) schedulerServices(keyEnv pulumi.StringMap, relays []pulumi.Resource) error {
	for _, h := range d.l.ByRole(topology.RoleScheduler) {
		var args []string
		for _, w := range d.l.ByRole(topology.RoleWorker) {
			args = append(args, "--worker", w.URL())
		}
		brokers := d.l.ByRole(topology.RoleQueue)
		sort.SliceStable(brokers, func(i, j int) bool { return brokers[i].Zone == h.Zone && brokers[j].Zone != h.Zone })
		for _, b := range brokers {
			args = append(args, "--broker", b.URL())
		}
		if relay := d.relayOf(h); relay != "" {
			args = append(args, "--mail", relay)
		}
		if _, err := d.service(h, args, keyEnv, relays...); err != nil {
			return err
		}
	}
	return nil
}

// queueServices runs a broker per queue host, each forwarding what its
// clients publish to the brokers of the other zones (seed 002: one broker
// per LAN, reaching across).
func (d *deployer) queueServices(keyEnv pulumi.StringMap) error {
	brokers := d.l.ByRole(topology.RoleQueue)
	for _, h := range brokers {
		args := []string{"--name", h.Name}
		for _, p := range brokers {
			if p.Zone != h.Zone {
				args = append(args, "--peer", p.URL())
			}
		}
		if _, err := d.service(h, args, keyEnv); err != nil {
			return err
		}
	}
	return nil
}

// proxyServices fronts what topology.DefaultLinks says a proxy fronts: the
// integrator cluster, else the web tier, else the api servers.
func (d *deployer) proxyServices(esbs []pulumi.Resource, esbURLs, apiURLs, consoles []string) error {
	targets := esbURLs
	if len(targets) == 0 {
		for _, h := range d.l.ByRole(topology.RoleWeb) {
			if _, ok := d.l.WebCerts[h.Name]; ok && len(d.l.ByRole(topology.RoleProxy)) > 0 {
				// crm proxy forwards plain HTTP, which an HTTPS web tier
				// redirects: its clients would be sent past the proxy.
				return crmplan.Errorf(crmplan.EINVALID, "a proxy in front of the web tier cannot reach it over HTTPS yet").In(h.Name).
					Try("tls: {off: true}   # in the plan, or add an integration tier for the proxy to front")
			}
			targets = append(targets, h.URL())
		}
	}
	if len(targets) == 0 {
		targets = apiURLs
	}
	args := backendArgs(targets)
	for _, u := range consoles {
		args = append(args, "--route", "/admin/="+u)
	}
	for _, h := range d.l.ByRole(topology.RoleProxy) {
		if _, err := d.service(h, args, pulumi.StringMap{}, esbs...); err != nil {
			return err
		}
	}
	return nil
}

func backendArgs(urls []string) []string {
	var args []string
	for _, u := range urls {
		args = append(args, "--backend", u)
	}
	return args
}

// etlServices runs the migration servers against the primary, each with an
// inbox in its host directory.
func (d *deployer) etlServices(urls *dbURLs, schema pulumi.Resource) error {
	for _, h := range d.l.ByRole(topology.RoleETL) {
		if urls == nil {
			return crmplan.Errorf(crmplan.EINVALID, "the etl role loads into a db-primary, and the plan has none").In(h.Name).
				Try("add a tier to the plan: - {role: db-primary, zone: lan}")
		}
		env := pulumi.StringMap{"CRM_DATABASE_URL": urls.primary}
		if n := d.l.Pools[topology.RoleETL]; n > 0 {
			// The tier's share, which it takes in place when the tier scales.
			env[poolEnv] = pulumi.String(strconv.Itoa(n))
		}
		if _, err := d.service(h, []string{"--inbox", filepath.Join(h.Dir, "inbox")}, env, schema); err != nil {
			return err
		}
	}
	return nil
}
