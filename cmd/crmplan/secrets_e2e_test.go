package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmplan/crmplan/provision/stackdir"
)

// checkNoSecretInArgv fails if any process on this machine shows a secret
// of the deployed stack in its command line (/proc/PID/cmdline, which every
// local user reads in ps): the seeded users' passwords, the stack's
// passphrase, and whatever the hosts keep in their 0600 files (the roles'
// environment: database URLs, keys; PostgreSQL's superuser password).
func checkNoSecretInArgv(t *testing.T, stateDir string, inv stackdir.Inventory) {
	t.Helper()
	secrets := stackSecrets(t, stateDir, inv)
	if len(secrets) < 4 {
		t.Fatalf("found only %d secrets of stack %s: the check would prove nothing", len(secrets), inv.Stack)
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	checked := 0
	for _, f := range cmdlines {
		argv, err := os.ReadFile(f)
		if err != nil || len(argv) == 0 {
			continue // gone meanwhile, or a kernel thread
		}
		checked++
		for name, s := range secrets {
			if bytes.Contains(argv, []byte(s)) {
				t.Errorf("%s holds %s: %q", f, name, strings.ReplaceAll(string(argv), "\x00", " "))
			}
		}
	}
	t.Logf("%d secrets of stack %s checked against %d command lines", len(secrets), inv.Stack, checked)
}

// checkSeededPasswords: every seeded user has a password of their own in
// the inventory (finding 7: one password was everybody's).
func checkSeededPasswords(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	if len(inv.SeededUsers) != inv.Users+2 || inv.SeededUsers[0] != inv.LoadUser {
		t.Fatalf("inventory lists %d seeded users, want %d with the load user first", len(inv.SeededUsers), inv.Users+2)
	}
	seen := map[string]string{}
	for _, u := range inv.SeededUsers {
		if other, ok := seen[u.Password]; ok || len(u.Password) < 24 {
			t.Errorf("%s: a password of %d characters, shared with %q", u.Email, len(u.Password), other)
		}
		seen[u.Password] = u.Email
	}
}

// stackSecrets maps a description of each secret to its value.
func stackSecrets(t *testing.T, stateDir string, inv stackdir.Inventory) map[string]string {
	t.Helper()
	secrets := map[string]string{}
	add := func(name, v string) {
		if len(v) >= 8 { // shorter values (ports, counts) would match by chance
			secrets[name] = v
		}
	}
	for _, u := range append(inv.SeededUsers, inv.LoadUser) {
		add("the password of "+u.Email, u.Password)
	}
	paths := stackdir.Paths{StateDir: stateDir, Stack: inv.Stack}
	if b, err := os.ReadFile(paths.Passphrase()); err == nil {
		add("the stack's passphrase", strings.TrimSpace(string(b)))
	}
	err := filepath.WalkDir(paths.HostsDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(filepath.Base(filepath.Dir(path)) == "roles" && strings.HasSuffix(path, ".json") || d.Name() == "pgserver.json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var v any
		if json.Unmarshal(data, &v) == nil {
			jsonSecrets(v, "", func(key, val string) { add(key+" in "+path, val) })
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return secrets
}

// jsonSecrets calls found with the values of v under keys that name a
// secret, and the passwords of the URLs anywhere in it.
func jsonSecrets(v any, key string, found func(key, val string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			jsonSecrets(x, k, found)
		}
	case []any:
		for _, x := range v {
			jsonSecrets(x, key, found)
		}
	case string:
		k := strings.ToLower(key)
		if strings.Contains(k, "password") || strings.Contains(k, "key") || strings.Contains(k, "token") || strings.Contains(k, "secret") {
			found(key, v)
		}
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				found("the password in "+key, pw)
			}
		}
	}
}
