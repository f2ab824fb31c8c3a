package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/agent"
)

// holder is the watchdog's side of the lease: it renews it every probe
// interval and knows when the guard's lease surely ran out.
type holder struct {
	addr, stack string
	secret      []byte
	lease       time.Duration
	interval    time.Duration
	log         io.Writer

	// mu is held across a renewal in flight, so that once stop returns
	// no renewal can extend the guard's lease behind the watchdog's back.
	mu        sync.Mutex
	stopped   bool
	lastGrant time.Time // when the last granted renewal's reply came back
	warned    bool
}

func newHolder(cfg Config, log io.Writer) *holder {
	d := cfg.Lease.Duration
	if d <= 0 {
		d = DefaultLease
	}
	return &holder{addr: cfg.Lease.Guard, stack: cfg.Paths.Stack, secret: cfg.Lease.Secret, lease: d, interval: cfg.Interval, log: log}
}

// renew renews the lease every interval until ctx ends; a watchdog
// stopped on purpose (ctx ends before any failover) releases it, so that
// the guard does not fence a primary nobody will replace.
func (h *holder) renew(ctx context.Context) {
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			h.release()
			return
		case <-tick.C:
		}
		h.mu.Lock()
		if !h.stopped {
			word, err := SendLease(ctx, h.addr, h.stack, h.secret, VerbRenew)
			switch {
			case err == nil && word == ReplyGranted:
				h.lastGrant, h.warned = time.Now(), false
			case !h.warned:
				h.warned = true
				fmt.Fprintf(h.log, "watchdog: lease renewal at %s: %q %v\n", h.addr, word, err)
			}
		}
		h.mu.Unlock()
	}
}

func (h *holder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return // failing over, or failed over: the guard must stay armed
	}
	h.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), leaseTimeout)
	defer cancel()
	if word, err := SendLease(ctx, h.addr, h.stack, h.secret, VerbRelease); err != nil || word != ReplyReleased {
		fmt.Fprintf(h.log, "watchdog: release the lease at %s: %q %v\n", h.addr, word, err)
	}
}

// stop ends the renewals and returns when the last granted one came back.
func (h *holder) stop() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	return h.lastGrant
}

func (h *holder) resume() {
	h.mu.Lock()
	h.stopped = false
	h.mu.Unlock()
}

// fence makes sure the primary takes no more writes before the replica
// (this host's) is promoted. Renewals stop first. The guard is asked to
// fence at once; when it cannot be asked (its host is lost, or cut off
// from this one) the watchdog waits until the lease it last granted has
// surely run out, by which time a guard still alive has fenced the
// primary by itself. A watchdog that never had a renewal granted cannot
// know the guard is armed and fences nothing: two primaries taking writes
// are worse than none.
func (h *holder) fence(ctx context.Context, replica DBHost) error {
	last := h.stop()
	word, err := SendLease(ctx, h.addr, h.stack, h.secret, VerbFence)
	switch {
	case err == nil && word == ReplyFenced:
		fmt.Fprintf(h.log, "watchdog: the primary's guard fenced it\n")
		return nil
	case err == nil && word == ReplyRestarting:
		return errors.New("apply is restarting the primary on purpose")
	case err == nil:
		return fmt.Errorf("guard %s answered %q to fence", h.addr, word)
	case errors.Is(err, ErrRefused):
		return err // a guard that refuses the secret is not this stack's
	case last.IsZero():
		return fmt.Errorf("cannot fence the primary: its guard does not answer (%v) and never granted this watchdog a lease", err)
	}
	// Clocks of two machines run at nearly the same rate; a tenth of the
	// lease and a probe interval cover the difference and the tick of the
	// guard's expiry check.
	until := last.Add(h.lease + h.lease/10 + h.interval)
	fmt.Fprintf(h.log, "watchdog: the primary's guard does not answer (%v): waiting until its lease surely expired, %s from now\n",
		err, time.Until(until).Round(time.Millisecond))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(until)):
	}
	if err := probeUpstream(ctx, replica, time.Second); err == nil {
		return errors.New("the primary answers as a primary again after its lease expired")
	}
	return nil
}

// probeUpstream probes the primary that replica streams from, from this
// host, with the replica's credentials (the primary's superuser's).
func probeUpstream(ctx context.Context, replica DBHost, timeout time.Duration) error {
	srv, err := pgserver.Open(agent.PostgresDir(replica.Dir))
	if err != nil {
		return err
	}
	up, err := srv.Upstream()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return up.AnswersAsPrimary(ctx)
}
