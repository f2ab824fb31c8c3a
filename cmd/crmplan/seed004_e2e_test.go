package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmplan/crmplan/provision"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// seed004ActivePassive, on a deployed seed 004 (a failover switch in the
// DMZ in front of an active-passive pair of app nodes, the data replicated
// with failover: automatic): the passive node serves nothing while the
// active one lives; kill -9 of the active node's processes moves every
// request to the passive one; kill -9 of the primary database's host is
// survived by the watchdog's promotion, no crmplan command run. It leaves
// api-1 and db-primary-1 dead: TestEverySeedDeploysAndVerifies runs it on
// its seed 004 stack before destroying it.
func seed004ActivePassive(t *testing.T, e *deployEnv) {
	const stack = "smarten-ha"
	inv, err := stackdir.LoadInventory(e.stateDir, stack)
	if err != nil {
		t.Fatal(err)
	}
	c := signIn(t, inv)
	c.http.Timeout = 2 * time.Second
	apiURL := map[string]string{}
	for _, h := range inv.Hosts {
		apiURL[h.Name] = fmt.Sprintf("http://%s:%d", h.Address, h.Port)
	}
	// Counted from here: the stack may have served a verify run before.
	active0, passive0 := listCount(t, apiURL["api-1"]), listCount(t, apiURL["api-2"])
	for range 20 {
		if code := c.do("GET", "/api/v1/accounts?limit=10", nil, nil); code != http.StatusOK {
			t.Fatalf("GET through the switch: HTTP %d", code)
		}
	}
	if active, passive := listCount(t, apiURL["api-1"])-active0, listCount(t, apiURL["api-2"])-passive0; active < 20 || passive != 0 {
		t.Fatalf("before the kill api-1 served %d lists, api-2 %d; want all on the active api-1", active, passive)
	}

	// The active node dies: the switch sends everything to the passive one.
	killed := time.Now()
	killStackHost(t, e, stack, "api-1")
	failed, served := 0, 0
	for time.Since(killed) < 5*time.Second {
		if code := c.do("GET", "/api/v1/accounts?limit=10", nil, nil); code == http.StatusOK {
			served++
		} else {
			failed++
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := listCount(t, apiURL["api-2"]) - passive0
	t.Logf("BENCH seed 004: kill -9 of the active node api-1: %d GETs failed, %d served by api-2 in the next 5s", failed, took)
	if took < served || served == 0 {
		t.Errorf("after the kill api-2 served %d of %d lists; want every one", took, served)
	}
	if failed != 0 {
		t.Errorf("%d GETs failed while the switch moved to the passive node, want none", failed)
	}

	// The primary database's host dies: the watchdog promotes the replica.
	killed = time.Now()
	killStackHost(t, e, stack, "db-primary-1")
	for n := 0; ; n++ {
		if time.Since(killed) > 60*time.Second {
			t.Fatalf("no write succeeded within 60s of kill -9 of db-primary-1")
		}
		if _, ok := c.tryCreate(fmt.Sprintf("seed004-%d", n)); ok && hostServer(t, inv, "db-replica-1").IsReplica() == false {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("BENCH seed 004: kill -9 of db-primary-1 to the first write acknowledged by the promoted replica: %.2fs", time.Since(killed).Seconds())
}

// listCount is how many account lists an api server has answered, from
// its /metrics.
func listCount(t *testing.T, apiURL string) int {
	t.Helper()
	res, err := http.Get(apiURL + "/metrics")
	if err != nil {
		return 0 // a killed server has served nothing since
	}
	defer res.Body.Close()
	n := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "crm_http_request_duration_seconds_count{") && strings.Contains(line, `route="GET /api/v1/accounts"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

// killStackHost kill -9s every supervisor and process of host in stack.
func killStackHost(t *testing.T, e *deployEnv, stack, host string) {
	t.Helper()
	st, err := provision.GetStatus(context.Background(), e.stateDir, stack)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		if h.Name != host {
			continue
		}
		for _, p := range h.Processes {
			for _, pid := range []int{p.SupervisorPID, p.PID} {
				if pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		return
	}
	t.Fatalf("no host %s in stack %s", host, stack)
}
