package kv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStore runs a real Redis behind the front: a client needs the
// password, the integrators' state round-trips and survives a restart of
// the store, the commands no client needs are gone, and HTTP gets crm's
// health on the same port.
func TestStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	addr, stop := startTest(t, dir)
	t.Cleanup(stop)

	for _, tt := range []struct{ name, password, wantErr string }{
		{"no password", "", "NOAUTH"},
		{"wrong password", "not-the-password-at-all", "WRONGPASS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: addr, Password: tt.password, MaxRetries: -1})
			defer rdb.Close()
			err := rdb.Set(ctx, KeyPrefix+"x", "1", 0).Err()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("SET with %s: %v, want %s", tt.name, err, tt.wantErr)
			}
		})
	}

	c := Dial(addr, TestPassword)
	if got, err := c.Grant(ctx, "abc"); err != nil || got != "" {
		t.Fatalf("Grant of an unknown token = %q, %v; want none", got, err)
	}
	if err := c.PutGrant(ctx, "abc", "esb@example.com", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Grant(ctx, "abc"); err != nil || got != "esb@example.com" {
		t.Fatalf("Grant = %q, %v; want esb@example.com", got, err)
	}
	if err := c.PutGrant(ctx, "short", "esb@example.com", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.CountCall(ctx, "esb@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CountCall(ctx, "etl@example.com"); err != nil {
		t.Fatal(err)
	}
	wantCalls := map[string]int64{"esb@example.com": 3, "etl@example.com": 1}
	checkCalls(t, c, wantCalls)
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: TestPassword, MaxRetries: -1})
	for _, cmd := range []string{"FLUSHALL", "CONFIG"} {
		if err := rdb.Do(ctx, cmd).Err(); err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("%s: %v, want unknown command", cmd, err)
		}
	}
	rdb.Close()
	c.Close()

	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, res.StatusCode)
		}
	}

	// A restart of the role keeps what was written (append-only file).
	t.Run("restart", func(t *testing.T) {
		stop()
		time.Sleep(100 * time.Millisecond) // past the short grant's expiry
		addr := StartTest(t, dir)
		c := Dial(addr, TestPassword)
		defer c.Close()
		checkCalls(t, c, wantCalls)
		if got, err := c.Grant(ctx, "abc"); err != nil || got != "esb@example.com" {
			t.Errorf("Grant after a restart = %q, %v; want esb@example.com", got, err)
		}
		if got, err := c.Grant(ctx, "short"); err != nil || got != "" {
			t.Errorf("an expired grant = %q, %v; want none", got, err)
		}
	})
}

func checkCalls(t *testing.T, c *Client, want map[string]int64) {
	t.Helper()
	got, err := c.Calls(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Calls = %v, want %v", got, want)
	}
}

// TestFrontRefusesHTTPVerbsToRedis: a browser or SSRF POST reaching the
// port goes to Redis, which closes on seeing HTTP (its own cross-protocol
// guard), and never runs a command.
func TestFrontRefusesHTTPVerbsToRedis(t *testing.T) {
	addr := StartTest(t, "")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\n\r\nSET crm:integration:x 1\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.HasPrefix(line, "+OK") {
		t.Fatalf("the POST's body ran as a command: %q", line)
	}
}
