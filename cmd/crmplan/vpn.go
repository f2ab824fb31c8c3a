package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision"
)

func vpnCommand() *cli.Command {
	return &cli.Command{
		Name:  "vpn",
		Usage: "remote users' access through the plan's vpn tier (seed 002's ARVPN, WireGuard)",
		Subcommands: []*cli.Command{{
			Name:      "add-peer",
			Usage:     "give a remote user a fresh key and a tunnel address, and print their WireGuard config",
			UsageText: "crmplan vpn add-peer --plan FILE [--isolate] [--state-dir DIR] [--output table|json|yaml] NAME",
			Description: strings.TrimSpace(`
Makes a fresh key pair for NAME, gives it the next tunnel address in 10.238.0.0/16 and records
its public key in <state-dir>/<stack>/vpn.json; the next crmplan apply gives it to the vpn
endpoint. The config printed (wg-quick format) holds the user's private key, which is kept
nowhere else: save it, e.g. to NAME.conf, and hand it over privately. Through the tunnel the
user reaches what the plan's links give the vpn role (the entry role: proxy, failover, web or
api) and nothing else: the endpoint's firewall and the network's policy refuse the rest.

The endpoint runs only on an isolated stack (apply --isolate): it makes a tun device and
firewall rules in its host's network namespace. On other targets apply skips the vpn hosts
and says so.

Examples:
   crmplan vpn add-peer --plan examples/arint.yaml --isolate alice > alice.conf
   crmplan apply --plan examples/arint.yaml --isolate
   wg-quick up ./alice.conf   # on the laptop`),
			Flags: append(deployFlags(), isolateFlag()),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					why := ""
					if c.NArg() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
						why = " (flags go before NAME)"
					}
					return crmplan.Errorf(crmplan.EINVALID, "want one peer name, got %d arguments%s", c.NArg(), why).In("NAME").
						Try("crmplan vpn add-peer --plan examples/arint.yaml --isolate alice")
				}
				req, format, err := deployRequest(c, true)
				if err != nil {
					return err
				}
				peer, err := provision.AddVPNPeer(req, c.Args().First())
				if err != nil {
					return err
				}
				if done, err := encode(c.App.Writer, peer, format); done {
					return err
				}
				if err := peer.WriteConfig(c.App.Writer); err != nil {
					return err
				}
				_, err = c.App.ErrWriter.Write([]byte("added " + peer.Name + " at " + peer.Address.String() + "; run crmplan apply to give it to " + peer.Host + "\n"))
				return err
			},
		}},
	}
}
