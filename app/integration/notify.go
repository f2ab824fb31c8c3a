package integration

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmplan/crmplan/app/mail"
)

// notifyTimeout bounds one notification: a relay that hangs must not keep
// goroutines piling up while api servers come and go.
const notifyTimeout = 30 * time.Second

// MailEjected is what an integrator's balancer calls on an api server it
// ejects (web.Balancer.OnEject): seed 002's HA service does "failure
// detection", and ARMAIL sends the cluster's "administrative and
// notification mails". The mail goes through n in the background, so the
// balancer is not held up; one that cannot be sent is logged. self names
// the integrator in the mail, ctx ends what is in flight.
func MailEjected(ctx context.Context, n mail.Notifier, self string, log *slog.Logger) func(backend string, why error) {
	return func(backend string, why error) {
		subject := fmt.Sprintf("integrator %s: api server %s out of rotation", self, backend)
		body := fmt.Sprintf("The integrator at %s took the api server %s out of rotation at %s:\n\n  %v\n\n"+
			"It goes on with the other api servers and takes this one back after two good health checks.\n",
			self, backend, time.Now().UTC().Format(time.RFC3339), why)
		go func() {
			ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
			defer cancel()
			if err := n.Send(ctx, subject, body); err != nil {
				log.Warn("integration: mail about an ejected api server", "backend", backend, "err", err)
			}
		}()
	}
}
