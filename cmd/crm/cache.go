package main

import (
	"context"
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/crmplan/crmplan/app/cache"
	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "run memcached behind the role's port, answering /healthz, /readyz and /metrics on it too",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:11211", EnvVars: []string{"CRM_LISTEN"}, Usage: "memcached clients and HTTP health checks"},
			&cli.StringFlag{Name: "memcached", Value: "memcached", EnvVars: []string{"CRM_MEMCACHED"}, Usage: "memcached binary"},
			&cli.StringFlag{Name: "socket", Value: "memcached.sock", EnvVars: []string{"CRM_MEMCACHED_SOCKET"}, Usage: "unix socket memcached listens on"},
			&cli.IntFlag{Name: "memory", Value: 64, EnvVars: []string{"CRM_CACHE_MEMORY_MB"}, Usage: "item memory in MB"},
		},
		Action: func(c *cli.Context) error {
			log, err := logger(c, "cache")
			if err != nil {
				return err
			}
			// Relative to the host directory, memcached's child too: a unix
			// socket path is limited to 108 bytes, a state dir is not.
			sock := c.String("socket")
			l, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			m, err := cache.Start(ctx, cache.Config{Binary: c.String("memcached"), Socket: sock, MemoryMB: c.Int("memory"), Log: log})
			if err != nil {
				l.Close()
				return err
			}
			defer m.Stop()
			met := metrics.New("cache")
			met.Registry.MustRegister(m.Collector())
			f := &cache.Front{Socket: sock, HTTP: serve.Handler(serve.Config{Role: "cache", Ready: m.Ready, Metrics: met, Log: log}), Log: log}
			log.Info("listening", "role", "cache", "addr", l.Addr().String(), "memcached", sock)
			errc := make(chan error, 1)
			go func() { errc <- f.Serve(ctx, l) }()
			select {
			case err := <-m.Done():
				return fmt.Errorf("memcached exited: %v", err) // the supervisor restarts the role
			case err := <-errc:
				return err
			}
		},
	}
}
