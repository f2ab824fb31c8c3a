package cache

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkGet compares a memcached get through the front (the role's
// port) with one straight to memcached's socket: the front's cost.
//
//	go test ./app/cache -run '^$' -bench Get -benchtime 20000x
//
// Here (2 shared cores, 2026-11-23): front 61 µs, socket 26 µs per get,
// one connection, so the splice costs about 35 µs a round trip.
func BenchmarkGet(b *testing.B) {
	if _, err := exec.LookPath("memcached"); err != nil {
		b.Skip("memcached is not installed (make deps)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	m, err := Start(ctx, Config{Socket: filepath.Join(b.TempDir(), "mc.sock"), MemoryMB: 8, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Stop)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f := &Front{Socket: m.cfg.Socket, HTTP: http.NotFoundHandler(), Log: log}
	go func() { _ = f.Serve(ctx, l) }()
	for _, bc := range []struct{ name, network, addr string }{
		{"front", "tcp", l.Addr().String()},
		{"socket", "unix", m.cfg.Socket},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := net.Dial(bc.network, bc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			fmt.Fprint(c, "set crm:k 0 0 5\r\nhello\r\n")
			if _, err := r.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				fmt.Fprint(c, "get crm:k\r\n")
				for range 3 { // VALUE, data, END
					if _, err := r.ReadString('\n'); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
