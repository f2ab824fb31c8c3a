package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/migrations"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "bring the database schema to this binary's version (safe to run again)",
		Flags: []cli.Flag{
			databaseURLFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "migrate")
			if err != nil {
				return err
			}
			v, err := migrations.UpTo(c.Context, c.String("database-url"), migrations.Latest, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "schema at version %d\n", v)
			return nil
		},
	}
}
