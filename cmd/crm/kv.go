package main

import (
	"context"
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/kv"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func kvCommand() *cli.Command {
	return &cli.Command{
		Name: "kv",
		Usage: "the key-value store (seed 002's ARKVD): Redis behind the role's port, which takes the stack's service key as its password " +
			"and answers /healthz, /readyz and /metrics on it too",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:6379", EnvVars: []string{"CRM_LISTEN"}, Usage: "Redis clients and HTTP health checks"},
			&cli.StringFlag{Name: "redis-server", Value: "redis-server", EnvVars: []string{"CRM_REDIS_SERVER"}, Usage: "redis-server binary"},
			&cli.StringFlag{Name: "dir", Value: "kv", EnvVars: []string{"CRM_KV_DIR"}, Usage: "data directory (append-only file, the socket), relative to the working directory"},
			&cli.IntFlag{Name: "memory", Value: 64, EnvVars: []string{"CRM_KV_MEMORY_MB"}, Usage: "Redis's maxmemory in MB; past it writes are refused, never keys evicted"},
			serviceKeyFlag(),
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "kv")
			if err != nil {
				return err
			}
			key, err := serviceKey(c)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			cfg := kv.Config{Binary: c.String("redis-server"), Dir: c.String("dir"), Password: key.Password(), MemoryMB: c.Int("memory"), Log: log}
			s, err := kv.Start(ctx, cfg)
			if err != nil {
				l.Close()
				return err
			}
			defer s.Stop()
			f := &kv.Front{Socket: cfg.Socket(), HTTP: serve.Handler(serve.Config{Role: "kv", Ready: s.Ready, Metrics: metrics.New("kv"), Log: log}), Log: log}
			log.Info("listening", "role", "kv", "addr", l.Addr().String(), "redis", cfg.Socket())
			errc := make(chan error, 1)
			go func() { errc <- f.Serve(ctx, l) }()
			select {
			case err := <-s.Done():
				return fmt.Errorf("redis-server exited: %v", err) // the supervisor restarts the role
			case err := <-errc:
				return err
			}
		},
	}
}
