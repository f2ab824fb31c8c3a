package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/seed"
)

func seedCommand() *cli.Command {
	return &cli.Command{
		Name:  "seed",
		Usage: "fill an empty database with realistic CRM data (fixed random seed) and users admin@, manager@, rep1..N@example.com",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "database-url", Required: true, EnvVars: []string{"CRM_DATABASE_URL"}},
			&cli.StringFlag{Name: "records", Value: "100k", EnvVars: []string{"CRM_SEED_RECORDS"}, Usage: "records over all kinds, e.g. 25M, 500k, 1000"},
			&cli.IntFlag{Name: "users", Value: 20, EnvVars: []string{"CRM_SEED_USERS"}, Usage: "number of sales reps (rep1..repN@example.com)"},
			&cli.StringFlag{Name: "password", EnvVars: []string{"CRM_SEED_PASSWORD"}, Usage: "password of every seeded user (required; never logged)"},
			&cli.Uint64Flag{Name: "seed", Value: 42, EnvVars: []string{"CRM_SEED"}, Usage: "random seed; the same seed gives the same data"},
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "seed")
			if err != nil {
				return err
			}
			records, err := parseCount(c.String("records"))
			if err != nil {
				return err
			}
			if c.String("password") == "" {
				return app.Errorf(app.EINVALID, "is required (or set CRM_SEED_PASSWORD)").In("--password")
			}
			res, err := seed.Run(c.Context, c.String("database-url"), seed.Config{Records: records, Reps: c.Int("users"),
				Password: c.String("password"), Seed: c.Uint64("seed"), Log: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "seeded %d records (%d accounts, %d contacts, %d leads, %d opportunities, %d activities) and %d users\n",
				res.Records(), res.Accounts, res.Contacts, res.Leads, res.Opportunities, res.Activities, res.Users)
			fmt.Fprintf(c.App.Writer, "load %.1f s (%.0f rows/s), indexes %.1f s, total %.1f s\n",
				res.Load.Seconds(), res.RowsPerSecond(), res.Indexes.Seconds(), res.Total.Seconds())
			return nil
		},
	}
}

// parseCount reads "25M", "500k" or "1000".
func parseCount(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1_000_000, s[:len(s)-1]
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1_000, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > 1_000_000_000/mult {
		return 0, app.Errorf(app.EINVALID, "must be a count like 25M, 500k or 1000").In("--records")
	}
	return n * mult, nil
}
