package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/cache"
	"github.com/crmplan/crmplan/app/secret"
)

// The tests in this file perform the attacks of issue 19 against the real
// API over a real PostgreSQL and check that each one fails.

// TestRepCannotReachOtherOwnersThroughAccounts: rep2 owns an account that
// rep1's records hang on (an admin put them there), and rep1 owns an
// account rep2 would like to read.
func TestRepCannotReachOtherOwnersThroughAccounts(t *testing.T) {
	f := newFixture(t)
	admin, rep1, rep2 := f.signIn(t, "admin@example.com"), f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com")
	rep1ID, rep2ID := f.users["rep1@example.com"].ID, f.users["rep2@example.com"].ID
	secret := rep1.id("/api/v1/accounts", `{"name":"Secret Corp"}`)
	mine := rep2.id("/api/v1/accounts", `{"name":"Rep Two Ltd"}`)
	theirContact := admin.id("/api/v1/contacts", fmt.Sprintf(`{"first_name":"Hidden","last_name":"Person","account_id":%d,"owner_id":%d}`, mine, rep1ID))
	admin.id("/api/v1/opportunities", fmt.Sprintf(`{"name":"Hidden deal","account_id":%d,"owner_id":%d}`, mine, rep1ID))
	admin.id("/api/v1/activities", fmt.Sprintf(`{"kind":"note","subject":"Hidden note","account_id":%d,"owner_id":%d}`, mine, rep1ID))
	rep2.id("/api/v1/contacts", fmt.Sprintf(`{"first_name":"Own","last_name":"Contact","account_id":%d}`, mine))
	// An admin attaches rep2's contact to rep1's account: the name stays rep1's.
	admin.id("/api/v1/contacts", fmt.Sprintf(`{"first_name":"Linked","last_name":"Elsewhere","account_id":%d,"owner_id":%d}`, secret, rep2ID))

	code, body := rep2.do("GET", fmt.Sprintf("/api/v1/accounts/%d", mine), "")
	if code != 200 || !strings.Contains(body, "Own") {
		t.Fatalf("own account detail: %d %s", code, body)
	}
	for _, hidden := range []string{"Hidden"} {
		if strings.Contains(body, hidden) {
			t.Errorf("account detail shows another owner's records: %s", body)
		}
	}
	if code, body := admin.do("GET", fmt.Sprintf("/api/v1/accounts/%d", mine), ""); code != 200 || strings.Count(body, "Hidden") != 3 {
		t.Errorf("an admin sees every record of the account: %d %s", code, body)
	}

	if code, body := rep2.do("GET", "/api/v1/contacts?limit=200", ""); code != 200 || strings.Contains(body, "Secret Corp") || !strings.Contains(body, "Linked") {
		t.Errorf("account_name names an account the rep may not see: %d %s", code, body)
	}

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/contacts", fmt.Sprintf(`{"first_name":"A","last_name":"B","account_id":%d}`, secret)},
		{"POST", "/api/v1/opportunities", fmt.Sprintf(`{"name":"Poach","account_id":%d}`, secret)},
		{"POST", "/api/v1/activities", fmt.Sprintf(`{"kind":"call","subject":"S","contact_id":%d}`, theirContact)},
		{"PATCH", fmt.Sprintf("/api/v1/accounts/%d", mine), `{"name":"x"}`}, // control: allowed
	} {
		code, body := rep2.do(tc.method, tc.path, tc.body)
		if tc.method == "PATCH" {
			if code != 200 {
				t.Errorf("control %s %s: %d %s", tc.method, tc.path, code, body)
			}
			continue
		}
		if c, _ := errCode(body); code != 400 || c != "invalid" || !strings.Contains(body, "that you can see") {
			t.Errorf("%s %s %s: %d %s, want 400 naming the reference", tc.method, tc.path, tc.body, code, body)
		}
	}
	own := rep2.id("/api/v1/contacts", `{"first_name":"Move","last_name":"Me"}`)
	if code, body := rep2.do("PATCH", fmt.Sprintf("/api/v1/contacts/%d", own), fmt.Sprintf(`{"account_id":%d}`, secret)); code != 400 {
		t.Errorf("update attaches to another owner's account: %d %s", code, body)
	}
	csvBody := fmt.Sprintf("first_name,last_name,account_id\nA,B,%d\nC,D,%d\n", mine, secret)
	if code, body := rep2.do("POST", "/api/v1/import/contacts", csvBody, "Content-Type", "text/csv"); code != 400 || !strings.Contains(body, fmt.Sprint(secret)) {
		t.Errorf("import attaches to another owner's account: %d %s", code, body)
	}

	// Delete refuses while other owners' records hang on the account.
	code, body = rep2.do("DELETE", fmt.Sprintf("/api/v1/accounts/%d", mine), "")
	if c, _ := errCode(body); code != 409 || c != "conflict" {
		t.Errorf("delete over other owners' records: %d %s, want 409", code, body)
	}
	if code, _ := rep1.do("GET", fmt.Sprintf("/api/v1/contacts/%d", theirContact), ""); code != 200 {
		t.Errorf("rep1's contact is gone after rep2's delete: %d", code)
	}
	// Without them it goes, with its own records.
	spare := rep2.id("/api/v1/accounts", `{"name":"Spare"}`)
	ownOpp := rep2.id("/api/v1/opportunities", fmt.Sprintf(`{"name":"Own deal","account_id":%d}`, spare))
	if code, body := rep2.do("DELETE", fmt.Sprintf("/api/v1/accounts/%d", spare), ""); code != 204 {
		t.Errorf("delete own account: %d %s", code, body)
	}
	if code, _ := rep2.do("GET", fmt.Sprintf("/api/v1/opportunities/%d", ownOpp), ""); code != 404 {
		t.Errorf("own opportunity survived its account: %d", code)
	}
}

// TestForgedCursorGetsOurWords: a cursor is opaque, but base64 JSON; a
// forged one with a value of the wrong type used to return PostgreSQL's
// message.
func TestForgedCursorGetsOurWords(t *testing.T) {
	f := newFixture(t)
	rep := f.signIn(t, "rep1@example.com")
	for _, v := range []string{"not a time", "2025-13-45", "1e400"} {
		forged := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"s":"-updated","v":%q,"id":1}`, v))
		code, body := rep.do("GET", "/api/v1/accounts?after="+forged, "")
		if c, field := errCode(body); code != 400 || c != "invalid" || field != "after" {
			t.Errorf("forged cursor %q: %d %s, want 400 on after", v, code, body)
		}
		for _, pgWords := range []string{"syntax", "timestamp", "SQLSTATE", "out of range"} {
			if strings.Contains(body, pgWords) {
				t.Errorf("forged cursor %q: database words %q reach the client: %s", v, pgWords, body)
			}
		}
	}
}

// TestDuplicateKeysRefused: a second "owner_id" must not slip past the
// owner check that read the first, nor any other key.
func TestDuplicateKeysRefused(t *testing.T) {
	f := newFixture(t)
	rep := f.signIn(t, "rep1@example.com")
	me, other := f.users["rep1@example.com"].ID, f.users["rep2@example.com"].ID
	for _, body := range []string{
		fmt.Sprintf(`{"name":"A","owner_id":%d,"owner_id":%d}`, me, other),
		fmt.Sprintf(`{"name":"A","owner_id":%d,"owner\u005fid":%d}`, me, other),
		`{"name":"A","name":"B"}`,
	} {
		code, resp := rep.do("POST", "/api/v1/accounts", body)
		if c, _ := errCode(resp); code != 400 || c != "invalid" || !strings.Contains(resp, "twice") {
			t.Errorf("POST %s: %d %s, want 400", body, code, resp)
		}
	}
	if code, resp := rep.do("POST", "/api/v1/session", `{"email":"rep1@example.com","password":"x","password":"password1"}`); code != 400 {
		t.Errorf("sign-in with two passwords: %d %s", code, resp)
	}
}

// TestExportNeutralisesFormulas: cells a spreadsheet would run as formulas
// leave the export with a leading quote.
func TestExportNeutralisesFormulas(t *testing.T) {
	f := newFixture(t)
	rep := f.signIn(t, "rep1@example.com")
	rep.id("/api/v1/contacts", `{"first_name":"=HYPERLINK(\"http://attacker.example\",\"click\")","last_name":"@SUM(A1:A9)","title":"-2+3","phone":"+1 555 0100"}`)
	rep.id("/api/v1/contacts", `{"first_name":"Plain","last_name":"O'Neil","title":"Head of Sales"}`)
	code, body := rep.do("GET", "/api/v1/export/contacts", "")
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("export is not 3 CSV rows: %v %q", err, body)
	}
	header := rows[0]
	for _, row := range rows[1:] {
		for i, cell := range row {
			switch header[i] {
			case "id", "account_id", "owner_id", "updated_at":
				continue
			}
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("%s cell %q starts a formula", header[i], cell)
			}
		}
	}
	if !strings.Contains(body, `'=HYPERLINK(""http://attacker.example""`) || !strings.Contains(body, "Plain,O'Neil") {
		t.Errorf("export changed more or less than the formula cells: %s", body)
	}
}

// TestForgedPrincipalThroughCachePort is the attack of finding 1: with the
// cache port (a real Front over a real memcached) and no key, write an
// admin principal for a made-up token, then copy the admin's own cached
// entry under it. Both must be misses that the database then refuses.
func TestForgedPrincipalThroughCachePort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sock := cache.StartTest(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := &cache.Front{Socket: sock, HTTP: http.NotFoundHandler(), Log: slog.New(slog.DiscardHandler)}
	go func() { _ = front.Serve(ctx, l) }()
	principals, err := cache.NewPrincipals(cache.PrincipalsConfig{Servers: []string{l.Addr().String()}, Key: cache.TestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, Config{Principals: principals})
	admin := f.signIn(t, "admin@example.com")
	if code, body := admin.do("GET", "/api/v1/users", ""); code != 200 {
		t.Fatalf("admin lists users: %d %s", code, body)
	}

	mc := cache.DialRaw(t, l.Addr().String())
	const forged = "crm_made-up-token"
	key := "crm:principal:token:" + hex.EncodeToString(secret.HashToken(forged))
	gen := string(mc.Get("crm:users:gen"))
	adminUser := f.users["admin@example.com"]
	plain, _ := json.Marshal(map[string]any{"gen": gen, "exp": time.Now().Add(time.Hour).Unix(),
		"p": app.Principal{User: adminUser, Team: []int64{adminUser.ID}, Via: "token"}})
	sessionKey := "crm:principal:session:" + hex.EncodeToString(secret.HashToken(sessionOf(t, admin).Value))
	for name, value := range map[string][]byte{
		"plain JSON admin entry":                plain,
		"admin entry behind a made-up MAC":      append(bytes.Repeat([]byte{7}, 32), plain...),
		"the admin's own entry under our token": mc.Get(sessionKey),
	} {
		mc.Set(key, value)
		attacker := f.client(t)
		attacker.bearer = forged
		if code, body := attacker.do("GET", "/api/v1/users", ""); code != http.StatusUnauthorized {
			t.Errorf("%s: GET /users with a made-up token = %d %.200s, want 401", name, code, body)
		}
	}
	if code, _ := admin.do("GET", "/api/v1/session", ""); code != 200 {
		t.Errorf("the admin's real session stopped working: %d", code)
	}
}

// signInFrom signs in with password, as the web tier forwards a client at
// addr (the fixture trusts 127.0.0.1 as its proxy when told to).
func signInFrom(c *client, addr, email, password string) (int, string, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/api/v1/session", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestSignInThrottled guesses passwords as finding 2 did: 30 wrong ones,
// then the right one. Past the per-address limit the guesses get 429 with
// Retry-After, and so does the right password from that address, while
// the account's owner still signs in from elsewhere.
func TestSignInThrottled(t *testing.T) {
	trustLocal := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	t.Run("per address", func(t *testing.T) {
		f := newFixtureWith(t, Config{SignIn: SignInLimits{PerAddress: 5, TrustedProxies: trustLocal}})
		c := f.client(t)
		var unauthorized, tooMany int
		for range 30 {
			code, retry, body := signInFrom(c, "198.51.100.7", "rep1@example.com", "wrong password")
			switch code {
			case 401:
				unauthorized++
			case 429:
				tooMany++
				if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 15*60+1 {
					t.Fatalf("429 with Retry-After %q: %s", retry, body)
				}
			default:
				t.Fatalf("wrong password: %d %s", code, body)
			}
		}
		if unauthorized != 5 || tooMany != 25 {
			t.Errorf("30 guesses: %d refused, %d throttled; want 5 and 25", unauthorized, tooMany)
		}
		if code, _, _ := signInFrom(c, "198.51.100.7", "rep1@example.com", "password1"); code != 429 {
			t.Errorf("the right password from the guessing address: %d, want 429", code)
		}
		if code, _, body := signInFrom(c, "203.0.113.9", "rep1@example.com", "password1"); code != 200 {
			t.Errorf("the owner from another address: %d %s, want 200", code, body)
		}
	})
	t.Run("forwarded header from an untrusted peer is ignored", func(t *testing.T) {
		f := newFixtureWith(t, Config{SignIn: SignInLimits{PerAddress: 5}})
		c := f.client(t)
		var tooMany int
		for i := range 20 {
			if code, _, _ := signInFrom(c, fmt.Sprintf("192.0.2.%d", i+1), "rep1@example.com", "wrong password"); code == 429 {
				tooMany++
			}
		}
		if tooMany != 15 {
			t.Errorf("a fresh X-Forwarded-For per guess escaped the limit: %d of 20 throttled, want 15", tooMany)
		}
	})
	t.Run("per account", func(t *testing.T) {
		f := newFixtureWith(t, Config{SignIn: SignInLimits{PerAddress: 3, PerAccount: 10, TrustedProxies: trustLocal}})
		c := f.client(t)
		if code, _, body := signInFrom(c, "203.0.113.1", "rep2@example.com", "password1"); code != 200 {
			t.Fatalf("sign in from the usual place: %d %s", code, body)
		}
		for i := range 12 {
			signInFrom(c, fmt.Sprintf("198.51.100.%d", i), "rep2@example.com", "wrong password")
		}
		if code, _, body := signInFrom(c, "198.51.100.200", "rep2@example.com", "wrong password"); code != 429 || !strings.Contains(body, "account") {
			t.Errorf("guess from a fresh address past the account's limit: %d %s, want 429", code, body)
		}
		if code, _, body := signInFrom(c, "203.0.113.1", "rep2@example.com", "password1"); code != 200 {
			t.Errorf("the owner from their usual address during the flood: %d %s, want 200", code, body)
		}
	})
	t.Run("exempt only when configured", func(t *testing.T) {
		f := newFixtureWith(t, Config{SignIn: SignInLimits{PerAddress: 3, Exempt: []string{"Admin@example.com"}}})
		c := f.client(t)
		for range 10 {
			if code, _, body := signInFrom(c, "", "admin@example.com", "wrong password"); code != 401 {
				t.Fatalf("exempt load-test user: %d %s, want 401 every time", code, body)
			}
		}
		var codes []int
		for range 4 {
			code, _, _ := signInFrom(c, "", "rep1@example.com", "wrong password")
			codes = append(codes, code)
		}
		if fmt.Sprint(codes) != "[401 401 401 429]" {
			t.Errorf("a user not on the list: %v, want 429 after the address's limit of 3", codes)
		}
	})
}

// TestThrottleWindow: counts end with their window, a success gives its
// attempt back, and the map stays bounded.
func TestThrottleWindow(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	th := newThrottle()
	th.now = func() time.Time { return now }
	for range 3 {
		if _, ok := th.take("k", 3, time.Minute); !ok {
			t.Fatal("refused within the limit")
		}
	}
	if wait, ok := th.take("k", 3, time.Minute); ok || wait != time.Minute {
		t.Errorf("past the limit: %v %v, want refused for 1m", wait, ok)
	}
	th.give("k")
	if _, ok := th.take("k", 3, time.Minute); !ok {
		t.Error("a given-back attempt still counted")
	}
	now = now.Add(time.Minute)
	if _, ok := th.take("k", 3, time.Minute); !ok {
		t.Error("refused after the window")
	}
	for i := range maxTracked + 10 {
		th.take(strconv.Itoa(i), 1, time.Minute)
	}
	if len(th.counts) > maxTracked {
		t.Errorf("%d counts kept, want at most %d", len(th.counts), maxTracked)
	}
}

// newCachedFixture is the API with a real memcached as its principal
// cache, so that revocations are checked where a stale entry would hide them.
func newCachedFixture(t *testing.T) *fixture {
	principals, err := cache.NewPrincipals(cache.PrincipalsConfig{Servers: []string{cache.StartTest(t)}, Key: cache.TestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, Config{Principals: principals})
}

func (c *client) token(body string) (id int64, token string, expires time.Time) {
	c.t.Helper()
	code, b := c.do("POST", "/api/v1/tokens", body)
	var tok struct {
		ID        int64
		Token     string
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(b), &tok); code != 201 || err != nil {
		c.t.Fatalf("POST /tokens %s: %d %s", body, code, b)
	}
	return tok.ID, tok.Token, tok.ExpiresAt
}

func (f *fixture) bearer(t *testing.T, token string) *client {
	c := f.client(t)
	c.bearer = token
	return c
}

// TestPasswordChangeRevokes: someone who had rep1's password kept a
// session and made an API token; rep1 changes the password. Both stop
// working at once (through the cache too); the session the change was made
// in goes on.
func TestPasswordChangeRevokes(t *testing.T) {
	f := newCachedFixture(t)
	owner, intruder := f.signIn(t, "rep1@example.com"), f.signIn(t, "rep1@example.com")
	_, token, _ := intruder.token(`{"name":"backdoor"}`)
	stolen := f.bearer(t, token)
	for _, c := range []*client{owner, intruder, stolen} {
		if code, _ := c.do("GET", "/api/v1/session", ""); code != 200 {
			t.Fatalf("before the change: %d", code)
		}
	}
	if code, body := owner.do("PATCH", fmt.Sprintf("/api/v1/users/%d", f.users["rep1@example.com"].ID), `{"password":"a new password"}`); code != 200 {
		t.Fatalf("change password: %d %s", code, body)
	}
	if code, _ := owner.do("GET", "/api/v1/session", ""); code != 200 {
		t.Errorf("the session that changed the password: %d, want 200", code)
	}
	if code, _ := intruder.do("GET", "/api/v1/accounts", ""); code != 401 {
		t.Errorf("another session after the password change: %d, want 401", code)
	}
	if code, _ := stolen.do("GET", "/api/v1/accounts", ""); code != 401 {
		t.Errorf("an API token after the password change: %d, want 401", code)
	}
	if code, _, _ := signInFrom(f.client(t), "", "rep1@example.com", "password1"); code != 401 {
		t.Errorf("the old password: %d, want 401", code)
	}
}

// TestTokensExpireAndRevoke: tokens get a bounded life, end with it, and
// can be revoked by their owner (not by another rep).
func TestTokensExpireAndRevoke(t *testing.T) {
	f := newCachedFixture(t)
	rep1, rep2 := f.signIn(t, "rep1@example.com"), f.signIn(t, "rep2@example.com")
	_, _, expires := rep1.token(`{"name":"default"}`)
	if d := time.Until(expires); d < DefaultTokenTTL-time.Hour || d > DefaultTokenTTL+time.Hour {
		t.Errorf("a token by default expires in %v, want about %v", d, DefaultTokenTTL)
	}
	for _, body := range []string{`{"expires_in":0}`, `{"expires_in":-5}`, `{"expires_in":99999999999}`, `{"expires_in":"1h"}`} {
		if code, resp := rep1.do("POST", "/api/v1/tokens", body); code != 400 {
			t.Errorf("POST /tokens %s: %d %s, want 400", body, code, resp)
		}
	}

	id, token, expires := rep1.token(`{"name":"short","expires_in":120}`)
	if d := time.Until(expires); d < time.Minute || d > 3*time.Minute {
		t.Errorf("expires_in 120 expires in %v", d)
	}
	bot := f.bearer(t, token)
	if code, _ := bot.do("GET", "/api/v1/session", ""); code != 200 {
		t.Fatalf("fresh token: %d", code)
	}
	if code, body := rep1.do("GET", "/api/v1/tokens", ""); code != 200 || !strings.Contains(body, `"short"`) || strings.Contains(body, token) {
		t.Errorf("GET /tokens: %d %s", code, body)
	}
	if code, _ := rep2.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), ""); code != 404 {
		t.Errorf("rep2 revokes rep1's token: %d, want 404", code)
	}
	if code, _ := bot.do("GET", "/api/v1/session", ""); code != 200 {
		t.Fatalf("token after another rep's attempt: %d", code)
	}
	if code, body := rep1.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), ""); code != 204 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := bot.do("GET", "/api/v1/session", ""); code != 401 {
		t.Errorf("a revoked token (cached a moment ago): %d, want 401", code)
	}

	// Expiry: move a token's end into the past, as time would.
	_, token, _ = rep1.token(`{"name":"old"}`)
	if _, err := f.store.Primary().Exec(context.Background(), "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'old'"); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.bearer(t, token).do("GET", "/api/v1/session", ""); code != 401 {
		t.Errorf("an expired token: %d, want 401", code)
	}
}
