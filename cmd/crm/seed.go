package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/seed"
)

func seedCommand() *cli.Command {
	return &cli.Command{
		Name:  "seed",
		Usage: "fill an empty database with realistic CRM data (fixed random seed) and users admin@, manager@, rep1..N@example.com",
		Flags: []cli.Flag{
			databaseURLFlag(),
			&cli.StringFlag{Name: "records", Value: "100k", EnvVars: []string{"CRM_SEED_RECORDS"}, Usage: "records over all kinds, e.g. 25M, 500k, 1000"},
			&cli.IntFlag{Name: "users", Value: 20, EnvVars: []string{"CRM_SEED_USERS"}, Usage: "number of sales reps (rep1..repN@example.com)"},
			&cli.StringFlag{Name: "password-key-file", Usage: "file holding the key every seeded user's own password is derived from " +
				"(HMAC-SHA256 of the e-mail; at least 16 bytes); or the key itself in CRM_SEED_PASSWORD_KEY. Never on the command line: " +
				"the key is every user's password"},
			&cli.StringFlag{Name: "passwords-out", Usage: "write the seeded users' passwords here as a JSON object (e-mail to password), mode 0600"},
			&cli.Uint64Flag{Name: "seed", Value: 42, EnvVars: []string{"CRM_SEED"}, Usage: "random seed; the same seed gives the same data"},
			&cli.DurationFlag{Name: "progress", Value: 5 * time.Second, Usage: "print a progress line this often (rows, rows/s, ETA; then the index being built); 0 for none"},
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
			key, err := passwordKey(c.String("password-key-file"))
			if err != nil {
				return err
			}
			res, err := seed.Run(c.Context, c.String("database-url"), seed.Config{Records: records, Reps: c.Int("users"),
				PasswordKey: key, Seed: c.Uint64("seed"), Log: log, Progress: c.App.Writer, ProgressEvery: c.Duration("progress")})
			if err != nil {
				return err
			}
			if out := c.String("passwords-out"); out != "" {
				if err := writePasswords(out, key, c.Int("users")); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.App.Writer, "seeded %d records (%d accounts, %d contacts, %d leads, %d opportunities, %d activities) and %d users\n",
				res.Records(), res.Accounts, res.Contacts, res.Leads, res.Opportunities, res.Activities, res.Users)
			fmt.Fprintf(c.App.Writer, "load %.1f s (%.0f rows/s), indexes %.1f s, total %.1f s\n",
				res.Load.Seconds(), res.RowsPerSecond(), res.Indexes.Seconds(), res.Total.Seconds())
			return nil
		},
	}
}

// passwordKey reads the seed's password key from file, else from
// CRM_SEED_PASSWORD_KEY: never from an argument, which any local user
// reads in ps.
func passwordKey(file string) ([]byte, error) {
	if file == "" {
		key := os.Getenv("CRM_SEED_PASSWORD_KEY")
		if key == "" {
			return nil, app.Errorf(app.EINVALID, "is required: a file holding the password key, or the key in CRM_SEED_PASSWORD_KEY").In("--password-key-file")
		}
		return []byte(key), nil
	}
	key, err := os.ReadFile(file)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "%v", err).In("--password-key-file")
	}
	return bytes.TrimSpace(key), nil
}

// writePasswords writes every seeded user's password, mode 0600 (the file
// is created so, never widened then narrowed).
func writePasswords(path string, key []byte, reps int) error {
	pw := map[string]string{}
	for _, email := range seed.Emails(reps) {
		pw[email] = seed.UserPassword(key, email)
	}
	data, err := json.MarshalIndent(pw, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return app.Errorf(app.EINVALID, "%v", err).In("--passwords-out")
	}
	return nil
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
