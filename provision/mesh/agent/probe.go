package agent

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// Probe tries a TCP connection to every address of p from this host, all
// at once, and says what each met: open, refused (a reset: the network let
// it through) or denied (no route, prohibited, or no answer in time).
func Probe(p wire.Probe) wire.ProbeReport {
	timeout := time.Duration(p.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	out := wire.ProbeReport{Results: make([]wire.ProbeResult, len(p.Addrs))}
	var wg sync.WaitGroup
	for i, addr := range p.Addrs {
		wg.Go(func() { out.Results[i] = probe(addr, timeout) })
	}
	wg.Wait()
	return out
}

func probe(addr string, timeout time.Duration) wire.ProbeResult {
	r := wire.ProbeResult{Addr: addr}
	c, err := net.DialTimeout("tcp", addr, timeout)
	switch {
	case err == nil:
		c.Close()
		r.Result = wire.ProbeOpen
	case errors.Is(err, syscall.ECONNREFUSED):
		r.Result, r.Error = wire.ProbeRefused, err.Error()
	default:
		r.Result, r.Error = wire.ProbeDenied, err.Error()
	}
	return r
}
