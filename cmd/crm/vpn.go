package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
	"github.com/crmplan/crmplan/app/vpn"
)

// vpnKeyEnv holds the endpoint's private key: the agent keeps it in the
// role's 0600 spec, never in an argument.
const vpnKeyEnv = "CRM_VPN_KEY"

func vpnCommand() *cli.Command {
	return &cli.Command{
		Name: "vpn",
		Usage: "the integrator VPN access (seed 002's ARVPN): a WireGuard endpoint (userspace, a tun device) on the UDP port of --listen, " +
			"whose clients reach the --allow services only; /healthz, /readyz and /metrics on TCP at the same port. " +
			"It runs only in a named network namespace of its own (crmplan apply --isolate), as root",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "0.0.0.0:51820", EnvVars: []string{"CRM_LISTEN"}, Usage: "WireGuard's UDP port, and the HTTP health checks' TCP port"},
			&cli.StringFlag{Name: "address", Value: "10.238.0.1/16", Usage: "the endpoint's tunnel address; its range (inside 10.238.0.0/16) is the clients'"},
			&cli.StringFlag{Name: "interface", Value: "wg0", Usage: "name of the tun device"},
			&cli.StringSliceFlag{Name: "client", Usage: "a remote user, as \"NAME ADDRESS PUBLIC-KEY\" (crmplan vpn add-peer makes them); repeat for each"},
			&cli.StringSliceFlag{Name: "allow", Usage: "ADDRESS:PORT of a TCP service the clients may reach (the vpn role's links); repeat for each"},
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "vpn")
			if err != nil {
				return err
			}
			cfg, err := vpnConfig(c)
			if err != nil {
				return err
			}
			cfg.Log = log
			t, err := vpn.Serve(cfg)
			if err != nil {
				return app.Errorf(app.EINVALID, "%v", err).In("crm vpn")
			}
			defer t.Close()
			log.Info("tunnel up", "interface", cfg.Interface, "address", cfg.Address.String(), "port", cfg.Port,
				"clients", len(cfg.Clients), "allow", fmt.Sprint(cfg.Allow))
			return serve.Run(c.Context, serve.Config{Role: "vpn", Listen: c.String("listen"), Metrics: metrics.New("vpn"), Log: log})
		},
	}
}

func vpnConfig(c *cli.Context) (vpn.ServerConfig, error) {
	cfg := vpn.ServerConfig{Interface: c.String("interface")}
	key, err := vpn.ParseKey(strings.TrimSpace(os.Getenv(vpnKeyEnv)))
	if err != nil {
		return cfg, app.Errorf(app.EINVALID, "the endpoint's private key: %v (Try: crmplan vpn add-peer NAME, then crmplan apply --isolate)", err).In(vpnKeyEnv)
	}
	cfg.PrivateKey = key
	if cfg.Address, err = netip.ParsePrefix(c.String("address")); err != nil {
		return cfg, app.Errorf(app.EINVALID, "%v (Try: --address 10.238.0.1/16)", err).In("--address")
	}
	_, port, err := net.SplitHostPort(c.String("listen"))
	if err == nil {
		cfg.Port, err = strconv.Atoi(port)
	}
	if err != nil {
		return cfg, app.Errorf(app.EINVALID, "want HOST:PORT: %v (Try: --listen 0.0.0.0:51820)", err).In("--listen")
	}
	for _, s := range c.StringSlice("client") {
		f := strings.Fields(s)
		var cl vpn.Client
		if len(f) == 3 {
			cl.Name = f[0]
			if cl.Address, err = netip.ParseAddr(f[1]); err == nil {
				cl.PublicKey, err = vpn.ParseKey(f[2])
			}
		}
		if len(f) != 3 || err != nil {
			return cfg, app.Errorf(app.EINVALID, "want \"NAME ADDRESS PUBLIC-KEY\", got %q (%v) (Try: crmplan vpn add-peer NAME, which writes it)", s, err).In("--client")
		}
		cfg.Clients = append(cfg.Clients, cl)
	}
	for _, s := range c.StringSlice("allow") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().Is4() {
			return cfg, app.Errorf(app.EINVALID, "want IPv4:PORT, got %q (Try: --allow 10.10.1.2:8443)", s).In("--allow")
		}
		cfg.Allow = append(cfg.Allow, vpn.Allow{Addr: ap.Addr(), Port: ap.Port()})
	}
	return cfg, nil
}
