package web

import (
	"context"
	"time"

	"github.com/crmplan/crmplan/app"
)

// SetBackends makes urls the balancer's backends without a restart, for a
// tier that scales out or in while it serves. A backend it keeps keeps its
// state (health, drain). A new one joins the rotation only once it passes
// two health checks, and SetBackends waits for that, so a scale-out is done
// when the new servers take traffic. A backend it removes is drained first:
// it gets no new request, and SetBackends waits until the requests it
// serves have finished, so the server can be stopped afterwards without
// failing one. It refuses a set in which no backend would be healthy.
func (b *Balancer) SetBackends(ctx context.Context, urls []string) error {
	parsed, err := parseBackends(urls)
	if err != nil {
		return err
	}
	b.setMu.Lock()
	defer b.setMu.Unlock()
	old := map[string]*backend{}
	for _, be := range b.list() {
		old[be.url.String()] = be
	}
	var next, added []*backend
	inRotation := 0
	for _, u := range parsed {
		be, ok := old[u.String()]
		if ok {
			delete(old, u.String())
			if be.inRotation() {
				inRotation++
			}
		} else {
			be = &backend{url: u} // unhealthy until its checks pass
			added = append(added, be)
		}
		next = append(next, be)
	}
	if inRotation == 0 && len(old) > 0 {
		// Every server in rotation would leave before a new one is known
		// to answer: the requests in between would fail.
		return app.Errorf(app.ECONFLICT, "no backend in rotation would remain while the new ones start: add the new backends first, then remove the old").In("backends")
	}
	for _, be := range old {
		be.drained.Store(true)
	}
	b.backends.Store(&next)
	for _, be := range added {
		b.log.Info("backend added", "backend", be.url.String())
		go b.checkOne(context.WithoutCancel(ctx), be)
	}
	for u, be := range old {
		if err := waitIdle(ctx, be); err != nil {
			return err
		}
		b.up.DeleteLabelValues(u)
		b.log.Info("backend removed", "backend", u)
	}
	for _, be := range added {
		if err := b.waitHealthy(ctx, be.url.String()); err != nil {
			return err
		}
	}
	return nil
}

// waitIdle waits until be serves no request.
func waitIdle(ctx context.Context, be *backend) error {
	if err := until(ctx, func() bool { return be.inflight.Load() == 0 }); err != nil {
		return app.Errorf(app.EUNAVAILABLE, "%s still serves %d requests: %v", be.url, be.inflight.Load(), err).In("backend")
	}
	return nil
}

// until polls cond every 10 ms until it holds (nil) or ctx ends (its
// error): the backends' state is atomics the requests and health checks
// change, with nothing to wait on.
func until(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
