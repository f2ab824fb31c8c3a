package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/cache"
	"github.com/crmplan/crmplan/app/secret"
)

// TestCachePortForgery is finding 1 against the real processes: crm cache
// (with its memcached) and crm api using it, with the stack's key in a
// file. From the cache port, without the key, an attacker writes an admin
// principal for a made-up token, then copies the admin's own cached entry
// under it; GET /users with that token must answer 401 each time.
func TestCachePortForgery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, memcached and two crm processes")
	}
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Skip("memcached is not installed (make deps)")
	}
	db := seededDB(t, 10, 2)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cache.key")
	if err := os.WriteFile(keyFile, cache.TestKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheAddr, apiAddr := freeAddr(t), freeAddr(t)
	start(t, dir, "cache", "cache", "--listen", cacheAddr, "--socket", dir+"/mc.sock", "--memory", "8")
	waitReady(t, "http://"+cacheAddr)
	start(t, dir, "api", "api", "--listen", apiAddr, "--database-url", db, "--cache", cacheAddr, "--cache-key-file", keyFile)
	base := "http://" + apiAddr
	waitReady(t, base)

	admin := signIn(t, base, "admin@example.com")
	resp, err := admin.Get(base + "/api/v1/users") // puts the admin's principal into the cache
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session string
	for _, c := range admin.Jar.Cookies(resp.Request.URL) {
		if c.Name == "crm_session" {
			session = c.Value
		}
	}
	resp, err = admin.Get(base + "/api/v1/session")
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ User app.User }
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	adminUser := me.User

	mc := cache.DialRaw(t, cacheAddr)
	const forged = "crm_made-up-token"
	key := "crm:principal:token:" + hex.EncodeToString(secret.HashToken(forged))
	plain, _ := json.Marshal(map[string]any{"gen": string(mc.Get("crm:users:gen")), "exp": time.Now().Add(time.Hour).Unix(),
		"p": app.Principal{User: adminUser, Team: []int64{adminUser.ID}, Via: "token"}})
	for name, value := range map[string][]byte{
		"plain JSON admin entry":                plain,
		"admin entry behind a made-up MAC":      append(bytes.Repeat([]byte{7}, 32), plain...),
		"the admin's own entry under our token": mc.Get("crm:principal:session:" + hex.EncodeToString(secret.HashToken(session))),
	} {
		mc.Set(key, value)
		if code, body := doReq(t, "GET", base+"/api/v1/users", "Bearer "+forged, ""); code != 401 {
			t.Errorf("%s: GET /users with a made-up token = %d %.200s, want 401", name, code, body)
		}
	}
}
