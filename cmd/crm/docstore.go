package main

import (
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/docstore"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func docstoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "docstore",
		Usage: "store documents on this host's disk, addressed by their SHA-256, for callers holding the stack's service key",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8083", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringFlag{Name: "dir", Value: "documents", EnvVars: []string{"CRM_DOCUMENT_DIR"}, Usage: "directory the documents live in"},
			&cli.Int64Flag{Name: "max-size", Value: 32 << 20, EnvVars: []string{"CRM_MAX_DOCUMENT_SIZE"}, Usage: "largest document in bytes"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "docstore")
			if err != nil {
				return err
			}
			key, err := serviceKey(c)
			if err != nil {
				return err
			}
			m := metrics.New("docstore")
			s, err := docstore.New(c.String("dir"), c.Int64("max-size"), m.Registry)
			if err != nil {
				return app.Errorf(app.EINVALID, "%v", err).In("--dir or --max-size")
			}
			return serve.Run(c.Context, serve.Config{Role: "docstore", Listen: c.String("listen"), Handler: key.Require(s.Handler()),
				Ready: s.Ready, Metrics: m, Log: log})
		},
	}
}
