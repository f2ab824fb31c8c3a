package cache

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crmplan/crmplan/app"
)

func startPrincipals(t *testing.T) (*Principals, *prometheus.Registry) {
	t.Helper()
	sock := StartTest(t)
	reg := prometheus.NewRegistry()
	p, err := NewPrincipals(PrincipalsConfig{Servers: []string{sock}, Key: TestKey(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

func lookups(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestPrincipals(t *testing.T) {
	c, reg := startPrincipals(t)
	ann := &app.Principal{User: app.User{ID: 7, Email: "ann@example.com", Role: app.RoleManager}, Team: []int64{7, 9}, Via: "session"}
	hash := []byte("0123456789abcdef0123456789abcdef")

	if _, _, ok := c.Get("session", hash); ok {
		t.Fatal("hit on an empty cache")
	}
	_, ticket, _ := c.Get("session", hash)
	c.Put("session", hash, ticket, ann)
	got, _, ok := c.Get("session", hash)
	if !ok || got.User.Email != ann.User.Email || len(got.Team) != 2 || got.Via != "session" {
		t.Fatalf("after Put: %+v, %v", got, ok)
	}
	if _, _, ok := c.Get("token", hash); ok {
		t.Error("a session entry answered for an API token with the same hash")
	}

	// A principal read under an old generation is never served after a
	// user change, even when it is put after the change.
	_, stale, _ := c.Get("session", []byte("other"))
	c.ForgetAll()
	if _, _, ok := c.Get("session", hash); ok {
		t.Error("hit after ForgetAll")
	}
	c.Put("session", []byte("other"), stale, ann)
	if _, _, ok := c.Get("session", []byte("other")); ok {
		t.Error("an entry put under the generation before ForgetAll was served")
	}

	_, ticket, _ = c.Get("session", hash)
	c.Put("session", hash, ticket, ann)
	c.Forget("session", hash)
	if _, _, ok := c.Get("session", hash); ok {
		t.Error("hit after Forget")
	}
	if n := lookups(t, reg); n["hit"] != 1 || n["miss"] < 5 || n["error"] != 0 {
		t.Errorf("lookups = %v, want 1 hit, misses, no errors", n)
	}
}

// TestPrincipalsCacheDown: an unreachable cache is a miss, quickly, and
// Put/Forget/ForgetAll do not fail the caller.
func TestPrincipalsCacheDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	reg := prometheus.NewRegistry()
	c, err := NewPrincipals(PrincipalsConfig{Servers: []string{addr}, Key: TestKey(t), Timeout: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	p, ticket, ok := c.Get("session", []byte("h"))
	if ok || p != nil || ticket != "" {
		t.Fatalf("Get on a dead cache = %v, %q, %v", p, ticket, ok)
	}
	c.Put("session", []byte("h"), ticket, &app.Principal{})
	c.Forget("session", []byte("h"))
	c.ForgetAll()
	if n := testutil.ToFloat64(c.errs); n != 1 {
		t.Errorf("errors counted = %v, want 1", n)
	}
}
