package loadgen

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// cpuClock is a host's process_cpu_seconds_total that grows at rate cores
// from the moment the rate is set.
type cpuClock struct {
	mu    sync.Mutex
	at    time.Time
	total float64
	rate  float64
}

func (c *cpuClock) set(rate float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !c.at.IsZero() {
		c.total += c.rate * now.Sub(c.at).Seconds()
	}
	c.at, c.rate = now, rate
}

func (c *cpuClock) read() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total + c.rate*time.Since(c.at).Seconds()
}

// TestIdleWindow: the scrapes before the load measure the tier's CPU with
// no load (0.5 cores here) apart from the run's (1.5 cores), so that
// calibrate can leave the first out of the per-request demand.
func TestIdleWindow(t *testing.T) {
	var cpu cpuClock
	cpu.set(0.5)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cpu.read())
	}))
	defer srv.Close()
	o := Options{IdleWindow: time.Second, ScrapeInterval: 200 * time.Millisecond,
		Target: Target{Hosts: []Host{{Name: "api-1", Role: "api", MetricsURL: srv.URL, Cores: 2}}}}
	sc, stop := o.startScraper(context.Background())
	// startScraper returns after the idle window: the load begins now.
	cpu.set(1.5)
	from := time.Now()
	time.Sleep(1200 * time.Millisecond)
	to := time.Now()
	stop()
	// (A tick's scrape cut short by stop may leave an error: not checked.)
	tiers, _ := sc.tiers(from, to)
	if len(tiers) != 1 {
		t.Fatalf("tiers %+v, want the api tier", tiers)
	}
	// The scrapes themselves take time on a loaded machine, so a tenth.
	if got := tiers[0]; math.Abs(got.IdleCPU-0.5) > 0.05 || math.Abs(got.CPU-1.5) > 0.15 {
		t.Errorf("idle CPU %.3f and CPU %.3f, want 0.5 and 1.5", got.IdleCPU, got.CPU)
	}

	// Without an idle window nothing is measured before the load.
	o.IdleWindow = 0
	sc, stop = o.startScraper(context.Background())
	time.Sleep(1200 * time.Millisecond)
	stop()
	if tiers, _ := sc.tiers(time.Time{}, time.Now()); len(tiers) != 1 || tiers[0].IdleCPU != 0 {
		t.Errorf("without an idle window: %+v, want no idle CPU", tiers)
	}
}

// TestMachineCPU: with Options.Machine the whole machine's busy CPU is
// read with every scrape. Here it is 1.8 cores before the load (the api
// host's 0.5 and 1.3 of other processes') and 1.9 during it (the host's
// 1.5, the generator's 0.1 and 0.3 of others'): the result keeps the
// others' apart, which the prediction here leaves out of the cores.
func TestMachineCPU(t *testing.T) {
	var host, machine cpuClock
	host.set(0.5)
	machine.set(1.8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", host.read())
	}))
	defer srv.Close()
	o := Options{IdleWindow: time.Second, ScrapeInterval: 200 * time.Millisecond,
		Target:  Target{Hosts: []Host{{Name: "api-1", Role: "api", MetricsURL: srv.URL, Cores: 2}}},
		Machine: Machine{Cores: 2, Busy: func() (float64, error) { return machine.read(), nil }}}
	sc, stop := o.startScraper(context.Background())
	host.set(1.5)
	machine.set(1.9)
	from := time.Now()
	time.Sleep(1200 * time.Millisecond)
	to := time.Now()
	stop()
	res := Result{GeneratorCPU: 0.1}
	res.Tiers, _ = sc.tiers(from, to)
	res.Machine = sc.machineCPU(o.Machine.Cores, res.Tiers, from, to)
	if res.Machine == nil {
		t.Fatal("no machine CPU")
	}
	res.settleMachine()
	m := *res.Machine
	// The scrapes take time on a loaded machine, so a tenth.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"busy", m.Busy, 1.9}, {"other", m.Other, 0.3}, {"idle busy", m.IdleBusy, 1.8}, {"idle other", m.IdleOther, 1.3}, {"free", m.Free(), 1.7}} {
		if math.Abs(c.got-c.want) > 0.1*c.want+0.05 {
			t.Errorf("%s %.3f, want %.1f (%+v)", c.name, c.got, c.want, m)
		}
	}
	if m.Cores != 2 {
		t.Errorf("cores %d, want 2", m.Cores)
	}

	// Without a reader the machine is not measured.
	o.Machine = Machine{}
	sc, stop = o.startScraper(context.Background())
	time.Sleep(1200 * time.Millisecond)
	stop()
	if got := sc.machineCPU(2, nil, time.Time{}, time.Now()); got != nil {
		t.Errorf("without a reader: %+v, want nil", got)
	}
}
