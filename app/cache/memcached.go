// Package cache is the cache tier (crm cache, seed 001's memcached tier):
// a real memcached, run as a child on a unix socket in the host directory,
// fronted on the role's port. Memcached clients are spliced through to it
// unchanged; HTTP requests (GET /healthz, /readyz, /metrics, which no
// memcached command can start with: its commands are lowercase or binary)
// are answered by crm, so the tier is health-checked and scraped like
// every other crm role.
package cache

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is one memcached.
type Config struct {
	Binary   string // memcached; default from $PATH
	Socket   string // unix socket path memcached listens on
	MemoryMB int    // item memory; default 64
	Log      *slog.Logger
}

// Memcached is the running child.
type Memcached struct {
	cfg  Config
	cmd  *exec.Cmd
	done chan error
}

// Start runs memcached and waits until it answers on its socket.
func Start(ctx context.Context, cfg Config) (*Memcached, error) {
	if cfg.Binary == "" {
		cfg.Binary = "memcached"
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 64
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("memcached not found (apt-get install memcached, or pass --memcached): %w", err)
	}
	_ = os.Remove(cfg.Socket) // left by a killed run: memcached will not bind over it
	args := []string{"-s", cfg.Socket, "-a", "0700", "-m", strconv.Itoa(cfg.MemoryMB)}
	if os.Geteuid() == 0 {
		// memcached refuses root unless told so. It binds its socket after
		// dropping to -u, so another user could not create it in a root-only
		// host directory; the local target runs every crm role as its caller.
		args = append(args, "-u", "root")
	}
	m := &Memcached{cfg: cfg, cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive crm cache
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start memcached: %w", err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := m.Ready(ctx)
		if err == nil {
			return m, nil
		}
		select {
		case werr := <-m.done:
			return nil, fmt.Errorf("memcached exited at start: %v", werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("memcached did not answer on %s: %w", cfg.Socket, err)
		}
	}
}

// Done is closed with memcached's exit.
func (m *Memcached) Done() <-chan error { return m.done }

// Stop ends memcached.
func (m *Memcached) Stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
}

// Ready asks memcached for its version.
func (m *Memcached) Ready(ctx context.Context) error {
	_, err := m.command(ctx, "version", "VERSION ")
	return err
}

// Stats returns memcached's "stats" as name -> value.
func (m *Memcached) Stats(ctx context.Context) (map[string]string, error) {
	lines, err := m.command(ctx, "stats", "END")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "STAT" {
			out[f[1]] = f[2]
		}
	}
	return out, nil
}

// command sends one text command and reads lines until one starts with end.
func (m *Memcached) command(ctx context.Context, cmd, end string) ([]string, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", m.cfg.Socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := fmt.Fprintf(c, "%s\r\n", cmd); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if strings.HasPrefix(l, end) {
			return lines, nil
		}
		if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "SERVER_ERROR") {
			return nil, fmt.Errorf("memcached: %s", l)
		}
	}
}

// Collector exports memcached's own counters as Prometheus metrics.
func (m *Memcached) Collector() prometheus.Collector { return statsCollector{m} }

type statsCollector struct{ m *Memcached }

var statsExported = []struct{ stat, name, help string }{
	{"curr_items", "crm_cache_items", "Items in memcached."},
	{"bytes", "crm_cache_bytes", "Bytes of items in memcached."},
	{"limit_maxbytes", "crm_cache_limit_bytes", "memcached's item memory limit."},
	{"get_hits", "crm_cache_get_hits_total", "memcached get hits."},
	{"get_misses", "crm_cache_get_misses_total", "memcached get misses."},
	{"evictions", "crm_cache_evictions_total", "Items evicted for memory."},
	{"curr_connections", "crm_cache_connections", "Open memcached connections."},
}

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range statsExported {
		ch <- prometheus.NewDesc(s.name, s.help, nil, nil)
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	stats, err := c.m.Stats(context.Background())
	if err != nil {
		return // a scrape while memcached restarts shows no cache metrics; /readyz says why
	}
	for _, s := range statsExported {
		v, err := strconv.ParseFloat(stats[s.stat], 64)
		if err != nil {
			continue
		}
		kind := prometheus.GaugeValue
		if strings.HasSuffix(s.name, "_total") {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(s.name, s.help, nil, nil), kind, v)
	}
}
