package mesh

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"
)

// control is a client of a Receptor node's control socket. The protocol is
// line based: the node greets with "Receptor Control, node ID", takes one
// JSON command per line and answers with one JSON line or "ERROR: text".
// Each call opens its own connection: a work submission reads the payload
// until EOF, and results stream until the connection closes.
type control struct {
	path string
	node string // for errors
	// through, when set, is a host's node: each connection is then the
	// socket at path (the controller's) bridged over the mesh, with the
	// controller's end-to-end TLS, to that node's own control service,
	// so that commands act on that node as if its socket were here.
	through string
}

// on is the control service of host's node, reached through the node
// whose socket c dials (the controller).
func (c control) on(host string) control {
	return control{path: c.path, node: host, through: host}
}

type conn struct {
	net.Conn
	r    *bufio.Reader
	stop func() bool
}

// Close closes the connection and forgets the caller's context.
func (cn *conn) Close() error {
	cn.stop()
	return cn.Conn.Close()
}

func (c control) dial(ctx context.Context) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, fmt.Errorf("control socket of node %s: %w", c.node, err)
	}
	// The greeting and the bridge over the mesh get handshakeTimeout: a
	// connect through a relay that has just died may never be answered.
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	// A blocked read or write ends when the caller's context does.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	cn := &conn{Conn: nc, r: bufio.NewReader(nc), stop: stop}
	hello, err := cn.r.ReadString('\n')
	if err != nil {
		cn.Close()
		return nil, fmt.Errorf("control socket of node %s: read greeting: %w", c.node, err)
	}
	if !strings.HasPrefix(hello, "Receptor Control") {
		cn.Close()
		return nil, fmt.Errorf("control socket of node %s: unexpected greeting %q", c.node, hello)
	}
	if c.through != "" {
		if err := cn.connect(c.through); err != nil {
			cn.Close()
			return nil, err
		}
	}
	_ = nc.SetDeadline(time.Time{})
	if err := ctx.Err(); err != nil { // ended while the deadline was lifted
		cn.Close()
		return nil, err
	}
	return cn, nil
}

// handshakeTimeout bounds a control connection's greeting and its bridge
// to a host's node.
const handshakeTimeout = 15 * time.Second

// connect bridges cn to node's control service over the mesh.
func (cn *conn) connect(node string) error {
	if err := cn.send(map[string]any{"command": "connect", "node": node, "service": "control", "tls": tlsWork}); err != nil {
		return err
	}
	// "Connecting", then the remote control service's own greeting.
	for _, want := range []string{"Connecting", "Receptor Control"} {
		line, err := cn.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("connect to the control service of %s: %w", node, err)
		}
		if msg, ok := strings.CutPrefix(line, "ERROR: "); ok {
			return fmt.Errorf("connect to the control service of %s: receptor: %s", node, strings.TrimSpace(msg))
		}
		if !strings.HasPrefix(line, want) {
			return fmt.Errorf("connect to the control service of %s: got %q, want %q", node, strings.TrimSpace(line), want)
		}
	}
	return nil
}

// send writes one command line.
func (cn *conn) send(cmd map[string]any) error {
	line, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	_, err = cn.Write(append(line, '\n'))
	return err
}

// reply reads one answer line: a JSON object, or an error.
func (cn *conn) reply(into any) error {
	line, err := cn.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read reply: %w", err)
	}
	if msg, ok := strings.CutPrefix(line, "ERROR: "); ok {
		return refusal(strings.TrimSpace(msg))
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(line), into); err != nil {
		return fmt.Errorf("reply %q: %w", strings.TrimSpace(line), err)
	}
	return nil
}

// refusal is a node's own "ERROR:" answer to a command: the node was
// reached and said no, which dialling it again will not change.
type refusal string

func (r refusal) Error() string { return "receptor: " + string(r) }

// call runs one command and decodes its answer.
func (c control) call(ctx context.Context, cmd map[string]any, into any) error {
	cn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer cn.Close()
	if err := cn.send(cmd); err != nil {
		return err
	}
	if err := cn.reply(into); err != nil {
		return fmt.Errorf("node %s: %s: %w", c.node, cmd["command"], err)
	}
	return nil
}

// status is the part of Receptor's status answer crmplan reads.
type status struct {
	NodeID       string
	Version      string
	RoutingTable map[string]string
	Connections  []struct {
		NodeID string
		Cost   float64
	}
}

func (c control) status(ctx context.Context) (status, error) {
	var st status
	err := c.call(ctx, map[string]any{"command": "status"}, &st)
	return st, err
}

// statusOf asks node's own control service, through the mesh (the
// controller's end-to-end TLS, as work goes), for its status: a node on
// another machine, whose control socket is there.
func (c control) statusOf(ctx context.Context, node string) (status, error) {
	return c.on(node).status(ctx)
}

// submitted is Receptor's answer to a work submission.
type submitted struct {
	UnitID string `json:"unitid"`
	Result string `json:"result"`
}

// Work unit states, as Receptor numbers them.
const (
	statePending   = 0
	stateRunning   = 1
	stateSucceeded = 2
	stateFailed    = 3
	stateCanceled  = 4
)

// unitStatus is Receptor's status of a unit of work.
type unitStatus struct {
	State      int
	StateName  string
	Detail     string
	StdoutSize int64
}
