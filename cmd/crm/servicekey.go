package main

import (
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/stackkey"
)

// serviceKeyFlag names the file holding the stack's service key, which
// docstore and queue require of their callers and the scheduler and peer
// brokers present. Without the flag the key comes from CRM_SERVICE_KEY
// (how a deployment gives it: the agent keeps it in the role's 0600 spec):
// never from an argument, which every local user reads in ps.
func serviceKeyFlag() cli.Flag {
	return &cli.StringFlag{Name: "service-key-file", EnvVars: []string{"CRM_SERVICE_KEY_FILE"},
		Usage: "file (mode 0600) holding the stack's service key; default: the key itself in " + stackkey.Env}
}

func serviceKey(c *cli.Context) (stackkey.Key, error) {
	return stackkey.Load(c.String("service-key-file"))
}
