package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crmplan/crmplan/app/serve"
)

// Front serves the role's port: HTTP to h, the memcached commands the api
// servers need to memcached.
type Front struct {
	Socket string // memcached's unix socket
	HTTP   http.Handler
	Log    *slog.Logger
}

// Serve accepts on l until ctx ends: HTTP to f.HTTP, the rest to relay
// (memcached's commands are lowercase, its binary protocol starts with
// 0x80: none opens like an HTTP GET or HEAD).
func (f *Front) Serve(ctx context.Context, l net.Listener) error {
	return serve.Split(ctx, l, f.HTTP, f.Log, func(c net.Conn) { f.relay(c.(*serve.PeekedConn)) })
}

// relay serves a memcached client one checked command at a time. memcached
// has no authentication, so the port is no raw proxy: only what the api
// servers send (get, gets, set, add, delete) on keys under KeyPrefix, with
// bounded sizes, reaches it. No flush_all, no stats, no touch, no meta or
// binary commands, no noreply (replies keep the relay in step).
func (f *Front) relay(c *serve.PeekedConn) {
	defer c.Close()
	mc, err := net.Dial("unix", f.Socket)
	if err != nil {
		f.Log.Warn("memcached unreachable", "err", err)
		_, _ = io.WriteString(c, "SERVER_ERROR memcached unavailable\r\n")
		return
	}
	defer mc.Close()
	mr := bufio.NewReader(mc)
	cw := bufio.NewWriter(c)
	for {
		// An idle connection may wait for ever: the api's client pools its
		// connections and would fail a request on one closed under it. A
		// command, once begun, must arrive whole soon.
		_ = c.SetReadDeadline(time.Time{})
		if _, err := c.R.Peek(1); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(commandTimeout))
		req, err := readCommand(c.R)
		if err != nil {
			var refused *refusal
			if errors.As(err, &refused) {
				f.Log.Warn("cache: refused a memcached command", "remote", c.RemoteAddr().String(), "why", refused.why)
				_, _ = io.WriteString(c, "CLIENT_ERROR "+refused.why+"\r\n")
			}
			return // a refused command ends the connection: its data may follow
		}
		if _, err := mc.Write(req.raw); err != nil {
			return
		}
		if err := relayReply(mr, cw, req.verb); err != nil {
			return
		}
		if err := cw.Flush(); err != nil {
			return
		}
	}
}

// KeyPrefix starts every key the api servers use.
const KeyPrefix = "crm:"

const (
	commandTimeout = 10 * time.Second
	maxLine        = 2048     // a get of a few keys; memcached keys are at most 250 bytes
	maxValue       = 64 << 10 // a principal is well under 1 KiB
	maxKeys        = 16
)

// refusal is a command the front does not pass on, with the reason the
// client is told.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }

type command struct {
	verb string
	raw  []byte // the command line and data block, as memcached gets them
}

// readCommand reads one command and checks it against what the api sends.
func readCommand(r *bufio.Reader) (command, error) {
	if b, err := r.Peek(1); err != nil {
		return command{}, err
	} else if b[0] < 'a' || b[0] > 'z' {
		// The binary protocol (0x80) sends no line end to wait for.
		return command{}, &refusal{"only memcached's text protocol passes"}
	}
	line, err := readLine(r)
	if err != nil {
		return command{}, err
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return command{}, &refusal{"empty command"}
	}
	cmd := command{verb: f[0], raw: []byte(line + "\r\n")}
	switch f[0] {
	case "get", "gets":
		if len(f) < 2 || len(f) > 1+maxKeys {
			return command{}, &refusal{fmt.Sprintf("%s takes 1 to %d keys", f[0], maxKeys)}
		}
		for _, k := range f[1:] {
			if err := checkKey(k); err != nil {
				return command{}, err
			}
		}
	case "delete":
		if len(f) != 2 {
			return command{}, &refusal{"delete takes one key, without noreply"}
		}
		if err := checkKey(f[1]); err != nil {
			return command{}, err
		}
	case "set", "add":
		// <verb> <key> <flags> <exptime> <bytes>
		if len(f) != 5 {
			return command{}, &refusal{f[0] + " takes key flags exptime bytes, without noreply"}
		}
		if err := checkKey(f[1]); err != nil {
			return command{}, err
		}
		_, err1 := strconv.ParseUint(f[2], 10, 32)
		_, err2 := strconv.ParseUint(f[3], 10, 32)
		n, err3 := strconv.Atoi(f[4])
		if err1 != nil || err2 != nil || err3 != nil || n < 0 || n > maxValue {
			return command{}, &refusal{fmt.Sprintf("bad flags, exptime or size (at most %d bytes)", maxValue)}
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return command{}, err
		}
		if string(data[n:]) != "\r\n" {
			return command{}, &refusal{"bad data chunk"}
		}
		cmd.raw = append(cmd.raw, data...)
	default:
		return command{}, &refusal{"only get, gets, set, add and delete pass"}
	}
	return cmd, nil
}

// readLine reads a line ending in \r\n of at most maxLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", &refusal{"line too long"}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		line, ok := strings.CutSuffix(string(b), "\r\n")
		if !ok {
			return "", &refusal{"lines end in \\r\\n"}
		}
		return line, nil
	}
}

func checkKey(k string) error {
	if !strings.HasPrefix(k, KeyPrefix) || len(k) > 250 {
		return &refusal{"keys start with " + KeyPrefix + " and have at most 250 bytes"}
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return &refusal{"keys are printable"}
		}
	}
	return nil
}

// relayReply copies memcached's reply to verb: for get and gets, VALUE
// lines with their data up to END; else one line.
func relayReply(mr *bufio.Reader, w *bufio.Writer, verb string) error {
	for {
		line, err := mr.ReadString('\n')
		if err != nil {
			return err
		}
		if _, err := w.WriteString(line); err != nil {
			return err
		}
		if verb != "get" && verb != "gets" || !strings.HasPrefix(line, "VALUE ") {
			return nil // END, or a one-line reply, or an error
		}
		f := strings.Fields(line) // VALUE <key> <flags> <bytes> [<cas>]
		if len(f) < 4 {
			return fmt.Errorf("memcached: bad reply %q", line)
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			return fmt.Errorf("memcached: bad reply %q", line)
		}
		if _, err := io.CopyN(w, mr, int64(n)+2); err != nil {
			return err
		}
	}
}
