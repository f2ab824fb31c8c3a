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
	"time"

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
		{"set crm:contact:1 0 0 3\r\nAda\r\n", "STORED"},
		{"get crm:contact:1\r\n", "VALUE crm:contact:1 0 3|Ada|END"},
		{"get crm:contact:2 crm:contact:1\r\n", "VALUE crm:contact:1 0 3|Ada|END"},
		{"add crm:contact:1 0 0 1\r\nB\r\n", "NOT_STORED"},
		{"delete crm:contact:1\r\n", "DELETED"},
		{"get crm:contact:1\r\n", "END"},
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
	for path, want := range map[string]string{"/readyz": `"ready"`, "/metrics": "crm_cache_get_hits_total 2"} {
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

// TestFrontRefusesRawMemcached sends what an attacker on the cache port
// would: commands the api never sends, keys outside its prefix, huge
// values, the binary and meta protocols. Each gets CLIENT_ERROR and the
// connection closes; memcached itself never sees them.
func TestFrontRefusesRawMemcached(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	sock := StartTest(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Front{Socket: sock, HTTP: http.NotFoundHandler(), Log: log}
	go func() { _ = f.Serve(ctx, l) }()
	direct, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	dr := bufio.NewReader(direct)
	fmt.Fprint(direct, "set crm:users:gen 0 0 4\r\ngen1\r\nset other 0 0 1\r\nx\r\n")
	for range 2 {
		if line, err := dr.ReadString('\n'); err != nil || line != "STORED\r\n" {
			t.Fatalf("seeding memcached: %q %v", line, err)
		}
	}

	for _, send := range []string{
		"flush_all\r\n",
		"stats\r\n",
		"stats cachedump 1 100\r\n",
		"touch crm:users:gen 99999\r\n",
		"get other\r\n",
		"delete other\r\n",
		"set crm:x 0 0 1 noreply\r\nx\r\n",
		"set evil 0 0 1\r\nx\r\n",
		"set crm:x 0 0 99999999\r\n",
		"set crm:x 0 0 1\r\nxyz\r\n",
		"append crm:users:gen 0 0 1\r\nx\r\n",
		"incr crm:users:gen 1\r\n",
		"mg crm:users:gen v\r\n",
		"ms crm:users:gen 1\r\nx\r\n",
		"verbosity 1\r\n",
		"shutdown\r\n",
		"get crm:" + strings.Repeat("k", 300) + "\r\n",
		"get " + strings.Repeat("crm:k ", 17) + "\r\n",
		"get crm:a\x01b\r\n",
		"get crm:users:gen\n",
		"\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		strings.Repeat("x", 5000) + "\r\n",
	} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, send)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(got), "CLIENT_ERROR ") || strings.Count(string(got), "\n") != 1 {
			t.Errorf("%.60q -> %q, want one CLIENT_ERROR line and the connection closed", send, got)
		}
	}

	fmt.Fprint(direct, "get crm:users:gen other\r\n")
	var got []string
	for range 5 {
		line, err := dr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(line))
	}
	if g := strings.Join(got, "|"); g != "VALUE crm:users:gen 0 4|gen1|VALUE other 0 1|x|END" {
		t.Errorf("memcached after the refused commands: %q, want both items as they were", g)
	}
}
