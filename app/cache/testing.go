package cache

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// StartTest runs a throw-away memcached for a test, on a unix socket in a
// temporary directory, and returns the socket's path (a server address
// memcache clients accept). It skips the test when memcached is not
// installed, and stops it on cleanup.
func StartTest(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("memcached is not installed (make deps)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sock := filepath.Join(t.TempDir(), "mc.sock")
	m, err := Start(ctx, Config{Socket: sock, MemoryMB: 8, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return sock
}

// TestKey returns a random key for a test's Principals.
func TestKey(t testing.TB) []byte {
	t.Helper()
	raw := make([]byte, MinKeyLen)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	// Text, as a stack's key is: crm api trims whitespace from a key
	// file, so raw bytes ending in one (about 1 run in 20) came out short.
	return []byte(hex.EncodeToString(raw))
}

// RawClient speaks memcached's text protocol to an address the way an
// attacker on the cache port would, without the api's client or its key.
type RawClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// DialRaw connects a RawClient to addr (host:port), closed on cleanup.
func DialRaw(t testing.TB, addr string) *RawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &RawClient{t: t, c: c, r: bufio.NewReader(c)}
}

// Get returns the value of key; the test fails if it is missing.
func (rc *RawClient) Get(key string) []byte {
	rc.t.Helper()
	fmt.Fprintf(rc.c, "get %s\r\n", key)
	line, err := rc.r.ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 4 || f[0] != "VALUE" {
		rc.t.Fatalf("get %s: %q %v", key, line, err)
	}
	n, _ := strconv.Atoi(f[3])
	v := make([]byte, n+2)
	if _, err := io.ReadFull(rc.r, v); err != nil {
		rc.t.Fatal(err)
	}
	if end, _ := rc.r.ReadString('\n'); end != "END\r\n" {
		rc.t.Fatalf("get %s: %q", key, end)
	}
	return v[:n]
}

// Set stores v under key; the test fails unless memcached stored it.
func (rc *RawClient) Set(key string, v []byte) {
	rc.t.Helper()
	fmt.Fprintf(rc.c, "set %s 0 0 %d\r\n%s\r\n", key, len(v), v)
	if line, err := rc.r.ReadString('\n'); err != nil || line != "STORED\r\n" {
		rc.t.Fatalf("set %s: %q %v", key, line, err)
	}
}
