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
	// a second or so (a status, a check): its output is read once it is
	// complete, on the connection that asked for its status, instead of
	// streamed on a second one as it is written (see runQuery).
	Query bool
}

// Output is what a finished unit produced.
type Output struct {
	Host     string
	Unit     string // the unit's ID on its host's node
	Text     string // stdout and stderr of the work, interleaved
	Detail   string // Receptor's final detail, e.g. "exit status 0"
	Duration time.Duration
}

// Run submits w to host's node through the controller, streams its output
// into w.Stream and returns it when the unit has finished. A unit that ran
// and failed returns an error wrapping ErrUnitFailed whose message ends
// with the host's output. The unit is released on the host either way.
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
		st, err = m.runHere(ctx, host, w, params, &out)
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

// runHere runs w as a unit of host's node's own, submitted there through
// the controller's socket bridged over the mesh (as runQuery does) and
// signed with the controller's work key, streaming its output into
// w.Stream as it is written, and releases it either way.
//
// It used to be a unit of the controller's (Receptor's "remote" work),
// which Receptor follows for us by polling the host once a second for the
// unit's status and once a second for its output: about 2.3 s on top of
// every unit, paid on each step of every deploy (install, start, drain,
// seed, each host of a rolling deploy). Here the host's node is asked for
// the status every statusPoll and streams the output itself. What Receptor
// did besides, reconnecting when the mesh connection breaks, followHere
// does: the unit runs on regardless, and the stream resumes at the byte
// it had reached.
func (m *Mesh) runHere(ctx context.Context, host string, w Work, params string, out *Output) (unitStatus, error) {
	ctrl, unit, sign, err := m.submitOn(ctx, host, w, params)
	if err != nil {
		return unitStatus{}, err
	}
	out.Unit = unit
	defer func() {
		// Released even when ctx ended: the host must not keep the unit.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		token, err := sign()
		if err != nil {
			return
		}
		if ctx.Err() != nil {
			_ = ctrl.call(rctx, workCmd("cancel", unit, token), nil)
		}
		_ = ctrl.call(rctx, workCmd("release", unit, token), nil)
	}()
	var buf bytes.Buffer
	var sink io.Writer = &buf
	if w.Stream != nil {
		sink = io.MultiWriter(&buf, w.Stream)
	}
	st, err := ctrl.followHere(ctx, unit, sign, sink)
	out.Text = buf.String()
	return st, err
}

// statusPoll is how often followHere first asks the host for a unit's
// status; it grows to statusPollMax for units that run long, whose end a
// few hundred milliseconds late costs nothing.
const (
	statusPoll    = 50 * time.Millisecond
	statusPollMax = 250 * time.Millisecond
)

// meshOutage is how long followHere keeps trying to reach the host of a
// running unit before it gives up on it; statusTimeout how long it waits
// for one status, and streamStall how long for output that the status
// says is there, before it dials again.
const (
	meshOutage    = 30 * time.Second
	statusTimeout = 5 * time.Second
	streamStall   = 5 * time.Second
)

// followHere copies the output of unit, on the node c is connected to,
// into sink until the unit is complete and all of its output (its
// StdoutSize bytes) has arrived. Receptor streams a unit's output and
// then waits for the next command on the same connection, so the stream
// has no end of its own: the status says when it is over. A broken
// connection (the mesh re-forming) is dialled again, for up to
// meshOutage, and the stream resumes where it stopped.
func (c control) followHere(ctx context.Context, unit string, sign func() (string, error), sink io.Writer) (unitStatus, error) {
	cw := &countingWriter{w: sink}
	var stream, stat *conn
	var copied chan error
	closeStream := func() {
		if stream != nil {
			stream.Close()
			<-copied // sink is the caller's again only when the copy has ended
			stream = nil
		}
	}
	defer func() {
		closeStream()
		if stat != nil {
			stat.Close()
		}
	}()
	openStream := func() error {
		token, err := sign()
		if err != nil {
			return err
		}
		cn, err := c.dial(ctx)
		if err != nil {
			return err
		}
		cmd := workCmd("results", unit, token)
		cmd["startpos"] = cw.n.Load()
		if err := cn.send(cmd); err != nil {
			cn.Close()
			return err
		}
		line, err := cn.r.ReadString('\n')
		if err == nil {
			if msg, ok := strings.CutPrefix(line, "ERROR: "); ok {
				err = refusal(strings.TrimSpace(msg))
			}
		}
		if err != nil {
			cn.Close()
			return fmt.Errorf("results of unit %s: %w", unit, err)
		}
		stream, copied = cn, make(chan error, 1)
		go func() {
			_, err := io.Copy(cw, cn.r)
			copied <- err
		}()
		return nil
	}
	askStatus := func() (unitStatus, error) {
		var st unitStatus
		if stat == nil {
			cn, err := c.dial(ctx)
			if err != nil {
				return st, err
			}
			stat = cn
		}
		// A status is answered at once, but one asked through a relay
		// that has just died is never answered at all.
		_ = stat.SetDeadline(time.Now().Add(statusTimeout))
		err := stat.send(map[string]any{"command": "work", "subcommand": "status", "unitid": unit})
		if err == nil {
			err = stat.reply(&st)
		}
		if err != nil {
			stat.Close()
			stat = nil
			return st, fmt.Errorf("status of unit %s: %w", unit, err)
		}
		return st, nil
	}

	poll := statusPoll
	var down time.Time  // when the current outage began; zero while connected
	var got int64       // output copied when last looked at,
	var gotAt time.Time // and when that changed
	for {
		st, err := askStatus()
		if n := cw.n.Load(); n != got || stream == nil {
			got, gotAt = n, time.Now()
		}
		if err == nil && stream != nil && st.StdoutSize > got && time.Since(gotAt) > streamStall {
			// Output the node has is not coming: the stream died
			// silently with the relay it went through.
			closeStream()
		}
		// The stream is opened once there is output to read: Receptor
		// looks for a unit's output file every 500 ms until it exists.
		if err == nil && stream == nil && st.StdoutSize > got {
			err = openStream()
		}
		switch {
		case ctx.Err() != nil:
			return st, ctx.Err()
		case errors.As(err, new(refusal)):
			// The node answered, and said no: not an outage.
			return st, err
		case err != nil:
			if down.IsZero() {
				down = time.Now()
			} else if time.Since(down) > meshOutage {
				return st, fmt.Errorf("unit %s: no answer from its node for %s (it may still run there): %w", unit, meshOutage, err)
			}
		default:
			down = time.Time{}
			complete := st.State == stateSucceeded || st.State == stateFailed || st.State == stateCanceled
			if complete && cw.n.Load() >= st.StdoutSize {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-copied:
			// The stream broke before the unit's output was all here:
			// it is dialled again, from the byte it reached.
			copied <- nil
			closeStream()
		case <-time.After(poll):
		}
		poll = min(poll*3/2, statusPollMax)
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
