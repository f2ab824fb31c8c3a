package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// Drain asks this host's balancer of role (crm web, or the ESB: crm
// integration) to take backend out of rotation (or put it back with
// undrain) through its admin socket. A drain answers once the backend's
// in-flight requests have finished. The balancer's answer (every backend's
// state) is copied to out.
//
// An ESB started before it had an admin socket is skipped, not failed: it
// gets one when apply updates it, which comes after the api tier, so
// failing here would stop the very apply that brings it.
func (h Host) Drain(ctx context.Context, role, backend string, undrain bool, out io.Writer) error {
	verb := "drain"
	if undrain {
		verb = "undrain"
	}
	if role == "" {
		role = "web"
	}
	if role == "integration" {
		if _, err := os.Stat(wire.AdminSocket(h.Dir, role)); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(out, "%s %s: skipped, crm integration has no admin socket until apply updates it\n", verb, backend)
			return nil
		}
	}
	return h.webAdmin(ctx, role, verb, backend, out)
}

// webAdmin posts verb (drain, undrain: of backend; reload) to the admin
// socket of role's balancer (crm web, crm integration) and copies its
// answer (every backend's state) to out.
func (h Host) webAdmin(ctx context.Context, role, verb, backend string, out io.Writer) error {
	sock := wire.AdminSocket(h.Dir, role)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}, Timeout: 90 * time.Second}
	path := verb
	if backend != "" {
		path += "?backend=" + url.QueryEscape(backend)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://crm-web/"+path, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "crm web's admin socket %s: %w", sock, err).In("--backend").
			Try("crm web runs with --admin-socket %s", sock)
	}
	defer res.Body.Close()
	var body struct {
		Error    string          `json:"error"`
		Backends json.RawMessage `json:"backends"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		return fmt.Errorf("crm web's answer to %s: %w", verb, err)
	}
	what := strings.TrimSpace(verb + " " + backend)
	fmt.Fprintf(out, "%s: %s\n", what, body.Backends)
	if res.StatusCode != http.StatusOK {
		return crmplan.Errorf(crmplan.ECONFLICT, "crm web refuses to %s: %s", what, body.Error).In("--backend").
			Try("crmplan status shows which hosts fail their health checks; apply again once they pass")
	}
	return nil
}
