package cache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/app/metrics"
	"github.com/crmplan/crmplan/app/serve"
)

// TestFront runs a real memcached behind the front: memcached's protocol
// passes through, HTTP gets crm's health and memcached's own counters.
func TestFront(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("memcached is not installed (make deps)")
	}
	m, err := Start(ctx, Config{Socket: filepath.Join(t.TempDir(), "memcached.sock"), MemoryMB: 8, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	met := metrics.New("cache")
	met.Registry.MustRegister(m.Collector())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Front{Socket: m.cfg.Socket, HTTP: serve.Handler(serve.Config{Role: "cache", Ready: m.Ready, Metrics: met, Log: log}), Log: log}
	go func() { _ = f.Serve(ctx, l) }()
	addr := l.Addr().String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	tests := []struct{ send, want string }{
		{"set contact:1 0 0 3\r\nAda\r\n", "STORED"},
		{"get contact:1\r\n", "VALUE contact:1 0 3|Ada|END"},
		{"get contact:2\r\n", "END"},
		{"mn\r\n", "MN"},
	}
	for _, tt := range tests {
		fmt.Fprint(c, tt.send)
		var got []string
		for range strings.Count(tt.want, "|") + 1 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.TrimRight(line, "\r\n"))
		}
		if g := strings.Join(got, "|"); g != tt.want {
			t.Errorf("%q -> %q, want %q", tt.send, g, tt.want)
		}
	}
	for path, want := range map[string]string{"/readyz": `"ready"`, "/metrics": "crm_cache_get_hits_total 1"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d, want %q in:\n%.600s", path, res.StatusCode, want, b)
		}
	}
}
