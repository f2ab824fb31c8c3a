package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/marketing"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func marketingCommand() *cli.Command {
	return &cli.Command{
		Name: "marketing",
		Usage: "serve campaigns and their recipients (seed 000's marketing server) from the marketing database, " +
			"the recipients drawn from the CRM's contacts with the caller's CRM API token (Authorization: Bearer crm_...)",
		Description: "The marketing database is its own PostgreSQL (--database-url), whose schema this command creates.\n" +
			"Every call is checked by the CRM (--crm), and a campaign reaches only the contacts its owner sees there.\n\n" +
			"   CRM_DATABASE_URL=postgres://marketing:PW@10.0.2.20:5432/marketing crm marketing --crm http://10.0.2.10:8081\n" +
			"   curl -H 'Authorization: Bearer crm_...' -d '{\"name\":\"Spring offer\",\"query\":\"smith\"}' http://127.0.0.1:8088/v1/campaigns",
		Flags: []cli.Flag{
			databaseURLFlag(),
			&cli.IntFlag{Name: "db-max-conns", EnvVars: []string{"CRM_DB_MAX_CONNS"}, Usage: "connections to the marketing database (default 16)"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8088", EnvVars: []string{"CRM_LISTEN"}, Usage: "address to listen on"},
			&cli.StringSliceFlag{Name: "crm", Required: true, EnvVars: []string{"CRM_API_URL"}, Usage: "base URL of the CRM's API: an api server (http://host:8081) or the web tier (https://host:8443); " +
				"repeat it for more api servers, asked in turn when one does not answer"},
			&cli.StringFlag{Name: "crm-ca-file", EnvVars: []string{"CRM_API_CA_FILE"}, Usage: "PEM CA that signed the CRM's certificate, when --crm is https with the stack's own CA"},
			&cli.IntFlag{Name: "max-recipients", Value: marketing.DefaultMaxRecipients, EnvVars: []string{"CRM_MAX_RECIPIENTS"}, Usage: "most contacts a campaign takes"},
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "marketing")
			if err != nil {
				return err
			}
			crms := c.StringSlice("crm")
			for _, u := range crms {
				if err := checkCRMURL(u); err != nil {
					return err
				}
			}
			client, err := crmClient(crms[0], c.String("crm-ca-file"))
			if err != nil {
				return err
			}
			s, err := openStore(c, log)
			if err != nil {
				return err
			}
			defer s.Close()
			db := s.Primary()
			if err := marketing.Migrate(c.Context, db); err != nil {
				return err
			}
			m := metrics.New("marketing")
			m.AddPools(s.Pools)
			srv := marketing.New(marketing.Config{DB: db, CRM: crms[0], Fallback: crms[1:], Client: client, MaxRecipients: c.Int("max-recipients"), Log: log})
			// Served like crm web, so that SIGHUP hands the socket over to
			// a new release: users reach the marketing server directly, and
			// a plain restart would refuse them meanwhile.
			return serveWeb(c.Context, serve.Config{Role: "marketing", Listen: c.String("listen"), Handler: srv.Handler(), Ready: srv.Ready, Metrics: m, Log: log}, nil)
		},
	}
}

// crmClient is the HTTP client for the CRM at base, trusting caFile's CA
// when given.
func crmClient(base, caFile string) (*http.Client, error) {
	if err := checkCRMURL(base); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if caFile == "" {
		return client, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "%v", err).In("--crm-ca-file")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, app.Errorf(app.EINVALID, "holds no PEM certificate").In("--crm-ca-file")
	}
	client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return client, nil
}

// checkCRMURL refuses what is not a CRM's base URL.
func checkCRMURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return app.Errorf(app.EINVALID, "must be the CRM's base URL like http://10.0.2.10:8081, got %.80q", base).In("--crm")
	}
	return nil
}
