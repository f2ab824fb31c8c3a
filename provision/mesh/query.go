package mesh

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// A query is a unit of work that changes nothing on its host and ends
// within a second or so: the agent's status, a check of packages. Like
// every unit (runHere) it is submitted to the host's node itself, through
// the controller's socket bridged over the mesh to the host's control
// service; unlike one, it opens no second connection to stream its output
// as it is written: its status is asked every queryPoll and its output
// read once it is complete, on the same connection. What is left is the
// host's own once-a-second look at its command runner.
//
// What a query gives up: should the mesh connection break while it runs,
// it fails (it can be asked again) where runHere dials again and resumes.
const queryPoll = 50 * time.Millisecond

// runQuery runs w on host's node as a query, filling out's Unit and Text,
// and releases the unit there either way.
func (m *Mesh) runQuery(ctx context.Context, host string, w Work, params string, out *Output) (unitStatus, error) {
	ctrl, unit, sign, err := m.submitOn(ctx, host, w, params)
	if err != nil {
		return unitStatus{}, err
	}
	out.Unit = unit
	token, err := sign()
	if err != nil {
		return unitStatus{}, err
	}
	cn, err := ctrl.dial(ctx)
	released := false
	defer func() {
		if cn != nil {
			cn.Close()
		}
		if released {
			return
		}
		// Released even when ctx ended: the host must not keep the unit.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ctx.Err() != nil {
			_ = ctrl.call(rctx, workCmd("cancel", unit, token), nil)
		}
		_ = ctrl.call(rctx, workCmd("release", unit, token), nil)
	}()
	if err != nil {
		return unitStatus{}, err
	}
	st, err := cn.await(ctx, unit)
	if err != nil {
		return st, err
	}
	var text strings.Builder
	var sink io.Writer = &text
	if w.Stream != nil {
		sink = io.MultiWriter(&text, w.Stream)
	}
	err = cn.results(unit, token, st.StdoutSize, sink)
	out.Text = text.String()
	if err != nil {
		return st, err
	}
	if err := cn.send(workCmd("release", unit, token)); err == nil {
		released = cn.reply(nil) == nil
	}
	return st, nil
}

// submitOn starts w on host's node, through the controller's socket
// bridged over the mesh to the host's control service, and returns that
// connection's control, the unit's ID there and how to sign the commands
// about it. The host's node verifies every work command that does not
// come from its own socket: submit, results, cancel and release. Each
// gets a fresh token: a unit may outlive one (a seed of millions of
// rows), and the release at its end needs a valid one.
func (m *Mesh) submitOn(ctx context.Context, host string, w Work, params string) (control, string, func() (string, error), error) {
	ctrl := control{path: m.ctrl.SocketPath(), node: m.ctrl.ID}.on(host)
	key, err := loadSigningKey(m.signingKeyPath())
	if err != nil {
		return ctrl, "", nil, err
	}
	sign := func() (string, error) { return workToken(key, host, time.Now()) }
	token, err := sign()
	if err != nil {
		return ctrl, "", nil, err
	}
	unit, err := ctrl.submitHere(ctx, w.Type, params, token, w.Payload)
	return ctrl, unit, sign, err
}

// workCmd is a signed work command about a unit.
func workCmd(sub, unit, token string) map[string]any {
	return map[string]any{"command": "work", "subcommand": sub, "unitid": unit, "signature": token}
}

// submitHere starts a unit of work on the node c is connected to (c is
// on a host), signed with token, sending payload as its stdin. The unit
// is that node's own: no unit of the controller's follows it.
func (c control) submitHere(ctx context.Context, workType, params, token string, payload io.Reader) (string, error) {
	cn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer cn.Close()
	cmd := map[string]any{"command": "work", "subcommand": "submit", "node": c.node, "worktype": workType, "signature": token}
	if params != "" {
		cmd["params"] = params
	}
	if err := cn.send(cmd); err != nil {
		return "", err
	}
	line, err := cn.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("submit %s to %s: %w", workType, c.node, err)
	}
	if msg, ok := strings.CutPrefix(line, "ERROR: "); ok {
		return "", fmt.Errorf("submit %s to %s: receptor: %s", workType, c.node, strings.TrimSpace(msg))
	}
	if payload != nil {
		if _, err := io.Copy(cn, payload); err != nil {
			return "", fmt.Errorf("submit %s to %s: send payload: %w", workType, c.node, err)
		}
	}
	// The end of the payload: the controller passes it on over the mesh
	// as the end of its stream to the host's node.
	if err := cn.Conn.(*net.UnixConn).CloseWrite(); err != nil {
		return "", err
	}
	var sub submitted
	if err := cn.reply(&sub); err != nil {
		return "", fmt.Errorf("submit %s to %s: %w", workType, c.node, err)
	}
	return sub.UnitID, nil
}

// await asks for unit's status on cn every queryPoll until it is complete.
func (cn *conn) await(ctx context.Context, unit string) (unitStatus, error) {
	for {
		var st unitStatus
		if err := cn.send(map[string]any{"command": "work", "subcommand": "status", "unitid": unit}); err != nil {
			return st, err
		}
		if err := cn.reply(&st); err != nil {
			return st, fmt.Errorf("status of unit %s: %w", unit, err)
		}
		if st.State == stateSucceeded || st.State == stateFailed || st.State == stateCanceled {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(queryPoll):
		}
	}
}

// results copies the size bytes of output of a complete unit into sink.
// Receptor streams a complete unit's output and then reads the next
// command on the same connection: size, from its status, is where the
// output ends.
func (cn *conn) results(unit, token string, size int64, sink io.Writer) error {
	cmd := workCmd("results", unit, token)
	cmd["startpos"] = 0
	if err := cn.send(cmd); err != nil {
		return err
	}
	line, err := cn.r.ReadString('\n')
	if err == nil {
		if msg, ok := strings.CutPrefix(line, "ERROR: "); ok {
			err = fmt.Errorf("receptor: %s", strings.TrimSpace(msg))
		}
	}
	if err == nil {
		_, err = io.CopyN(sink, cn.r, size)
	}
	if err != nil {
		return fmt.Errorf("results of unit %s: %w", unit, err)
	}
	return nil
}

// loadSigningKey reads the controller's work-signing key (PKCS#1, as
// newSigningKey writes it).
func loadSigningKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("work-signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		return nil, fmt.Errorf("work-signing key %s: no RSA PRIVATE KEY PEM block", path)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("work-signing key %s: %w", path, err)
	}
	return key, nil
}

// tokenLife is how long a query's signature is good for, as the
// controller's own (work-signing's tokenexpiration in its config).
const tokenLife = 10 * time.Minute

// workToken is the signature Receptor's work-verification accepts: a JWT
// (RFC 7519) signed RS512, for node (its audience), expiring tokenLife
// after now; what Receptor's work-signing makes for a remote unit.
func workToken(key *rsa.PrivateKey, node string, now time.Time) (string, error) {
	if node == "" {
		return "", errors.New("work token: no node")
	}
	enc := base64.RawURLEncoding
	header, err := json.Marshal(map[string]string{"alg": "RS512", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{"aud": []string{node}, "exp": now.Add(tokenLife).Unix()})
	if err != nil {
		return "", err
	}
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha512.Sum512([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA512, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}
