package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/mesh/wire"
)

// ErrUnitFailed is wrapped by the error of a unit of work that ran and
// failed on its host; the error's message carries the host's own output.
var ErrUnitFailed = errors.New("work unit failed")

// Work is one unit of work for a host.
type Work struct {
	Type    string    // a work type of the host's node, e.g. "crmplan-install"
	Args    []string  // runtime parameters, appended to the work type's params
	Payload io.Reader // the unit's stdin (a release archive, a role spec); nil for none
	Stream  io.Writer // receives the output as it arrives; may be nil
	// Query marks a unit that changes nothing on the host and ends within
	// a second or so (a status, a check): it runs on the host's node
	// without a unit of the controller's following it, which saves
	// Receptor's two once-a-second polls of remote work (see runQuery).
	// Its output arrives in Stream when it is complete.
	Query bool
}

// Output is what a finished unit produced.
type Output struct {
	Host     string
	Unit     string // the controller's unit ID
	Text     string // stdout and stderr of the work, interleaved
	Detail   string // Receptor's final detail, e.g. "exit status 0"
	Duration time.Duration
}

// Run submits w to host's node through the controller, streams its output
// into w.Stream and returns it when the unit has finished. A unit that ran
// and failed returns an error wrapping ErrUnitFailed whose message ends
// with the host's output. The unit is released (deleted here and on the
// host) either way. A Query goes to the host's node without a unit here.
func (m *Mesh) Run(ctx context.Context, host string, w Work) (Output, error) {
	out := Output{Host: host}
	n, err := m.node(host)
	if err != nil {
		return out, err
	}
	if err := m.checkWorkType(n, w.Type); err != nil {
		return out, err
	}
	params, err := quoteParams(w.Args)
	if err != nil {
		return out, err
	}
	began := time.Now()
	var st unitStatus
	if w.Query {
		st, err = m.runQuery(ctx, host, w, params, &out)
	} else {
		st, err = m.runRemote(ctx, host, w, params, &out)
	}
	out.Detail, out.Duration = st.Detail, time.Since(began)
	if err != nil {
		return out, crmplan.Errorf(crmplan.EUNAVAILABLE, "%s on %s: %w", w.Type, host, err).In("host " + host)
	}
	if st.State != stateSucceeded {
		// The agent's own verdict, when it gave one: the same code, place
		// and hint as had its command run here.
		code, place, hint := crmplan.EUNAVAILABLE, "host "+host, ""
		text := out.Text
		if ue, rest, ok := wire.FindUnitError(text); ok {
			code, hint, text = ue.Code, ue.Hint, rest
			if ue.Place != "" {
				place = "host " + host + ": " + ue.Place
			}
		}
		if text = strings.TrimSpace(text); text == "" {
			text = st.Detail
		}
		err := crmplan.Errorf(code, "%s on %s: %w (%s): %s", w.Type, host, ErrUnitFailed, st.Detail, text).In(place)
		if hint != "" {
			err = err.Try("%s", hint)
		}
		return out, err
	}
	return out, nil
}

// runRemote runs w on host's node through a unit of the controller's,
// which Receptor follows (and reconnects) until the host's unit is
// complete, streaming its output into w.Stream as it arrives, and
// releases it either way.
func (m *Mesh) runRemote(ctx context.Context, host string, w Work, params string, out *Output) (unitStatus, error) {
	ctrl := control{path: m.ctrl.SocketPath(), node: m.ctrl.ID}
	sub, err := ctrl.submit(ctx, host, w.Type, params, w.Payload)
	if err != nil {
		return unitStatus{}, err
	}
	out.Unit = sub.UnitID
	defer func() {
		// Released even when ctx ended: the host must not keep the unit.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ctx.Err() != nil {
			_ = ctrl.cancel(rctx, sub.UnitID)
		}
		_ = ctrl.release(rctx, sub.UnitID)
	}()
	var buf bytes.Buffer
	var sink io.Writer = &buf
	if w.Stream != nil {
		sink = io.MultiWriter(&buf, w.Stream)
	}
	st, err := follow(ctx, ctrl, sub.UnitID, sink)
	out.Text = buf.String()
	return st, err
}

// follow copies the unit's output into sink until the unit is complete
// and all of its output (StdoutSize bytes) has arrived.
func follow(ctx context.Context, ctrl control, unit string, sink io.Writer) (unitStatus, error) {
	cn, err := ctrl.results(ctx, unit)
	if err != nil {
		return unitStatus{}, err
	}
	cw := &countingWriter{w: sink}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(cw, cn.r)
		copied <- err
	}()
	defer func() {
		cn.Close()
		<-copied // sink is the caller's again only when the copy has ended
	}()
	for {
		st, err := ctrl.unitStatus(ctx, unit)
		if err != nil {
			return st, err
		}
		complete := st.State == stateSucceeded || st.State == stateFailed || st.State == stateCanceled
		if complete && cw.n.Load() >= st.StdoutSize {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case err := <-copied:
			copied <- err // for the deferred wait
			if complete {
				return st, nil
			}
			return st, fmt.Errorf("output stream of unit %s ended early: %v", unit, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// checkWorkType fails for a work type the host's node does not run:
// Receptor would answer with a confusing signature error.
func (m *Mesh) checkWorkType(n Node, name string) error {
	var names []string
	for _, wt := range m.opts.WorkTypes(n.Host, filepath.Dir(n.Dir)) {
		if wt.Name == name {
			return nil
		}
		names = append(names, wt.Name)
	}
	return crmplan.Errorf(crmplan.ENOTFOUND, "host %s runs no work of type %q (it runs %s)", n.ID, name, strings.Join(names, ", ")).In("host " + n.ID)
}

// quoteParams joins args for Receptor, which splits a work command's
// params like a POSIX shell (shlex): each argument is single-quoted.
func quoteParams(args []string) (string, error) {
	quoted := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "'\n\x00") {
			return "", crmplan.Errorf(crmplan.EINVALID, "work parameter %q contains a quote, newline or NUL; send it in the payload", a)
		}
		quoted[i] = "'" + a + "'"
	}
	return strings.Join(quoted, " "), nil
}

// Ping runs nothing: it checks that the controller reaches host through
// the mesh, and returns the round trip Receptor measured.
func (m *Mesh) Ping(ctx context.Context, host string) (time.Duration, error) {
	if _, err := m.node(host); err != nil {
		return 0, err
	}
	var reply struct {
		Success bool
		Error   string
		Time    time.Duration // Receptor encodes it in nanoseconds
		From    string
	}
	ctrl := control{path: m.ctrl.SocketPath(), node: m.ctrl.ID}
	if err := ctrl.call(ctx, map[string]any{"command": "ping", "target": host}, &reply); err != nil {
		return 0, err
	}
	if !reply.Success {
		return 0, crmplan.Errorf(crmplan.EUNAVAILABLE, "ping %s: %s", host, reply.Error).In("host " + host)
	}
	return reply.Time, nil
}

func (o Output) String() string { return fmt.Sprintf("%s %s: %s", o.Host, o.Unit, o.Detail) }
