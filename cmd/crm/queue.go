package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/queue"
	"github.com/crmplan/crmplan/app/serve"
)

func queueCommand() *cli.Command {
	return &cli.Command{
		Name:  "queue",
		Usage: "a pub/sub broker over HTTP for callers holding the stack's service key: publish to a topic, long-poll for new messages, forward to peer brokers",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4222", EnvVars: []string{"CRM_LISTEN"}},
			&cli.StringFlag{Name: "name", EnvVars: []string{"CRM_BROKER_NAME"}, Usage: "broker name, unique among peers (default: the listen address)"},
			&cli.StringSliceFlag{Name: "peer", EnvVars: []string{"CRM_PEERS"}, Usage: "peer broker base URL to forward to (repeat)"},
			&cli.IntFlag{Name: "retain", Value: 10000, EnvVars: []string{"CRM_RETAIN"}, Usage: "messages kept per topic"},
			&cli.Int64Flag{Name: "max-size", Value: 64 << 10, EnvVars: []string{"CRM_MAX_MESSAGE_SIZE"}, Usage: "largest message in bytes"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "queue")
			if err != nil {
				return err
			}
			// One key for its clients and its peers: a broker both requires
			// it and presents it.
			key, err := serviceKey(c)
			if err != nil {
				return err
			}
			name := c.String("name")
			if name == "" {
				name = c.String("listen")
			}
			m := metrics.New("queue")
			b := queue.New(queue.Config{Name: name, Peers: c.StringSlice("peer"), Retain: c.Int("retain"), MaxBody: c.Int64("max-size"),
				Transport: key.Transport(nil), Log: log}, m.Registry)
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			go b.Run(ctx)
			return serve.Run(c.Context, serve.Config{Role: "queue", Listen: c.String("listen"), Handler: key.Require(b.Handler()), Metrics: m, Log: log})
		},
	}
}
