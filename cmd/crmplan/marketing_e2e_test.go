package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// checkMarketing drives seed 000's deployed marketing server as a user
// would: it signs in to the CRM through the web tier, takes an API token
// there, adds a contact with a name no seeded contact has, then creates a
// campaign for that name at the marketing host (in the DMZ) and lists its
// recipients. The marketing server checks the token and finds the contact
// through the CRM's api, and keeps the campaign in its own database: the
// one recipient is that contact.
func checkMarketing(t *testing.T, inv stackdir.Inventory) {
	t.Helper()
	var base string
	for _, h := range inv.Hosts {
		if h.Role == "marketing" {
			base = "http://" + net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
			break
		}
	}
	if base == "" {
		t.Fatalf("the inventory has no marketing host: %+v", inv.Hosts)
	}
	web := webClient(t, inv)
	call := func(c *http.Client, method, url, token string, body any, want int, out any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, url, rd)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var raw bytes.Buffer
		_, _ = raw.ReadFrom(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: %s, want %d\n%.300s", method, url, res.Status, want, raw.String())
		}
		if out != nil {
			if err := json.Unmarshal(raw.Bytes(), out); err != nil {
				t.Fatalf("%s %s: %v\n%.300s", method, url, err, raw.String())
			}
		}
	}
	call(web, "POST", inv.WebURL+"/api/v1/session", "", map[string]string{"email": inv.LoadUser.Email, "password": inv.LoadUser.Password}, http.StatusOK, nil)
	var tok struct{ Token string }
	call(web, "POST", inv.WebURL+"/api/v1/tokens", "", map[string]any{"name": "e2e-marketing", "expires_in": 600}, http.StatusCreated, &tok)
	// Letters only: the CRM's search matches whole words by prefix.
	name := "Mkt" + strings.Map(func(r rune) rune { return 'a' + (r - '0') }, strconv.FormatInt(time.Now().UnixNano(), 10))
	email := strings.ToLower(name) + "@example.com"
	call(web, "POST", inv.WebURL+"/api/v1/contacts", "", map[string]string{"first_name": "Campaign", "last_name": name, "email": email}, http.StatusCreated, nil)

	plain := &http.Client{Timeout: 30 * time.Second}
	call(plain, "POST", base+"/v1/campaigns", "", map[string]string{"name": "e2e", "query": name}, http.StatusUnauthorized, nil)
	var camp struct {
		ID         int64
		Recipients int
	}
	call(plain, "POST", base+"/v1/campaigns", tok.Token, map[string]string{"name": "e2e " + name, "query": name}, http.StatusCreated, &camp)
	var list struct {
		Recipients []struct {
			ContactID int64  `json:"contact_id"`
			Email     string `json:"email"`
			Name      string `json:"name"`
		}
	}
	call(plain, "GET", fmt.Sprintf("%s/v1/campaigns/%d/recipients", base, camp.ID), tok.Token, nil, http.StatusOK, &list)
	if camp.Recipients != 1 || len(list.Recipients) != 1 || list.Recipients[0].Email != email {
		t.Errorf("campaign for %s: %d recipients, listed %+v; want the one contact %s", name, camp.Recipients, list.Recipients, email)
	}
}

// checkMarketingProbed: the probe of an isolated seed 000 covers the
// marketing roles, and found marketing-1 reaching its database and the api
// while the web tier reaches neither database and marketing-1 not the
// CRM's.
func checkMarketingProbed(t *testing.T, pm provision.ProbeMatrix) {
	t.Helper()
	want := map[string]bool{
		"marketing-1 -> marketing-db-1:5432": true,
		"marketing-1 -> api-1:8081":          true,
		"marketing-1 -> db-primary-1:5432":   false,
		"web-1 -> marketing-db-1:5432":       false,
		"web-1 -> db-primary-1:5432":         false,
	}
	for _, c := range pm.Cells {
		key := fmt.Sprintf("%s -> %s:%d", c.From, c.To, c.Port)
		if w, ok := want[key]; ok {
			if c.Reached != w {
				t.Errorf("probe %s: reached %v (%s), want %v", key, c.Reached, c.Measured, w)
			}
			delete(want, key)
		}
	}
	for key := range want {
		t.Errorf("the probe has no cell %s", key)
	}
}
