package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmplan/crmplan/app/seed"
)

// TestSignInFlood is finding 2's attack on a real crm api process with the
// production argon2 costs: 1,000 wrong sign-ins, 200 at a time, from one
// client address (127.70.0.1), then the right password from another
// (127.70.0.2). It runs twice: with the default throttle, and with the
// throttle out of the way, so that every guess is hashed and only the
// bound on concurrent hashing holds memory. The api's peak RSS (VmHWM)
// stays under 300 MB both times.
//
//	go test ./cmd/crm -run TestSignInFlood -v
func TestSignInFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and crm api; hashes 1,000 passwords")
	}
	if !canBind("127.70.0.1") {
		t.Skip("cannot bind 127.70.0.1")
	}
	db := seededDB(t, 10, 2)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, codes map[int]int)
	}{
		{"default throttle", nil, func(t *testing.T, codes map[int]int) {
			if codes[401] > 10 || codes[429] < 990 || codes[401]+codes[429] != 1000 {
				t.Errorf("answers %v: want at most 10 refusals (the per-address limit) and 429 for the rest", codes)
			}
		}},
		{"no throttle, hashing bound only", []string{"--sign-in-per-address", "100000", "--sign-in-per-account", "100000"}, func(t *testing.T, codes map[int]int) {
			// Guesses that wait over 10 s for a check get 503 and Retry-After.
			if codes[401] == 0 || codes[401]+codes[503] != 1000 {
				t.Errorf("answers %v: want 1000 refusals, 401 or 503", codes)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			api := start(t, t.TempDir(), "api", append([]string{"api", "--listen", addr, "--database-url", db}, tc.args...)...)
			base := "http://" + addr
			waitReady(t, base)
			before := procKB(t, api.Process.Pid, "VmRSS")
			began := time.Now()
			codes := flood(t, base, "127.70.0.1", 1000, 200)
			took := time.Since(began)
			peak := procKB(t, api.Process.Pid, "VmHWM")
			code := signInAs(t, base, "127.70.0.2", "admin@example.com", seed.UserPassword(e2eKey, "admin@example.com"))
			t.Logf("%s: 1000 wrong sign-ins at 200 concurrent in %v: %v; api RSS %d MB before, peak %d MB; right password from another address: %d",
				tc.name, took.Round(time.Millisecond), codes, before/1024, peak/1024, code)
			tc.check(t, codes)
			if peak >= 300*1024 {
				t.Errorf("api peak RSS %d MB, want under 300 MB", peak/1024)
			}
			if code != 200 {
				t.Errorf("the right password from another address: %d, want 200", code)
			}
		})
	}
}

func canBind(ip string) bool {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// flood sends n wrong sign-ins, c at a time, from source address src, and
// counts the answers by status.
func flood(t *testing.T, base, src string, n, c int) map[int]int {
	client := fromAddr(src, c)
	var mu sync.Mutex
	codes := map[int]int{}
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for range work {
				code := post(client, base, "admin@example.com", "wrong password")
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}

func signInAs(t *testing.T, base, src, email, password string) int {
	return post(fromAddr(src, 1), base, email, password)
}

// fromAddr is a client whose connections leave from src.
func fromAddr(src string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: conns}}
}

func post(c *http.Client, base, email, password string) int {
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/api/v1/session",
		strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// procKB reads a "VmXXX: N kB" line of /proc/pid/status.
func procKB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
