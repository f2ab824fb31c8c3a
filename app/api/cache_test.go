package api

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/crmplan/crmplan/app/cache"
)

// TestPrincipalsFromTheCacheTier runs the API with a real memcached as its
// principal cache. Deleting session rows behind the API's back shows which
// requests the cache answered and which went to the database.
func TestPrincipalsFromTheCacheTier(t *testing.T) {
	ctx := context.Background()
	sock := cache.StartTest(t)
	principals, err := cache.NewPrincipals(cache.PrincipalsConfig{Servers: []string{sock}, Key: cache.TestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, Config{Principals: principals})
	forgetSessions := func() {
		t.Helper()
		if _, err := f.store.Pools()["primary"].Exec(ctx, "DELETE FROM sessions"); err != nil {
			t.Fatal(err)
		}
	}
	admin, rep := f.signIn(t, "admin@example.com"), f.signIn(t, "rep1@example.com")
	for _, c := range []*client{admin, rep} {
		if code, body := c.do("GET", "/api/v1/session", ""); code != 200 {
			t.Fatalf("first request: %d %s", code, body)
		}
	}

	forgetSessions()
	if code, _ := rep.do("GET", "/api/v1/accounts", ""); code != 200 {
		t.Fatalf("with its session row gone the cached principal must still answer: got %d", code)
	}

	// A user change (here: the admin renames rep2) invalidates every cached
	// principal: the next request goes to the database, which has no session.
	admin2 := f.signIn(t, "admin@example.com")
	if code, body := admin2.do("PATCH", "/api/v1/users/"+strconv.FormatInt(f.users["rep2@example.com"].ID, 10), `{"name":"Rep Two"}`); code != 200 {
		t.Fatalf("PATCH user: %d %s", code, body)
	}
	if code, _ := rep.do("GET", "/api/v1/accounts", ""); code != http.StatusUnauthorized {
		t.Errorf("after a user change the stale principal answered: got %d, want 401", code)
	}

	// A sign-out forgets its own entry at once.
	rep = f.signIn(t, "rep1@example.com")
	rep.do("GET", "/api/v1/session", "")
	cookie := sessionOf(t, rep)
	if code, _ := rep.do("DELETE", "/api/v1/session", ""); code != 200 && code != 204 {
		t.Fatalf("sign out: %d", code)
	}
	again := f.client(t)
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/session", nil)
	req.AddCookie(cookie)
	resp, err := again.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a signed-out session answered %d from the cache, want 401", resp.StatusCode)
	}
}

func sessionOf(t *testing.T, c *client) *http.Cookie {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/api/v1/session", nil)
	for _, ck := range c.http.Jar.Cookies(req.URL) {
		if ck.Name == sessionCookie {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}
