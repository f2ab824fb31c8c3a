package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// serveAdmin serves h on a Unix socket only the host's user can open: the
// deploy control must not be reachable over the network, so the mesh
// controller reaches it through a work unit on the web host.
func serveAdmin(ctx context.Context, path string, h http.Handler) error {
	// A socket left by a killed process would make the listen fail.
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	context.AfterFunc(ctx, func() {
		_ = srv.Close()
		_ = os.Remove(path)
	})
	return nil
}
