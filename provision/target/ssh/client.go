package ssh

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/crmplan/crmplan"
	"github.com/crmplan/crmplan/provision/target"
)

// dialTimeout bounds a TCP connect and the SSH handshake: a machine that
// does not answer in that time is reported, not waited for.
const dialTimeout = 10 * time.Second

// conn is a logged-in connection to one machine, and the host key it
// showed (what tells two machines apart on a shared filesystem).
type conn struct {
	*gossh.Client
	fingerprint string
}

// auth returns the ways to log in the inventory allows: its key, or the
// agent's keys.
func (t *Target) auth() ([]gossh.AuthMethod, error) {
	inv := t.Inventory
	if inv.Key != "" {
		pem, err := os.ReadFile(inv.Key)
		if err != nil {
			return nil, crmplan.Errorf(crmplan.EINVALID, "ssh key: %w", err).In(inv.File + ": ssh.key").
				Try("key: ~/.ssh/id_ed25519 (a private key file), or leave key: out and use an agent (SSH_AUTH_SOCK)")
		}
		signer, err := gossh.ParsePrivateKey(pem)
		var missing *gossh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, crmplan.Errorf(crmplan.EINVALID, "ssh key %s is protected by a passphrase", inv.Key).In(inv.File+": ssh.key").
				Try("ssh-add %s, then leave key: out of %s so that crmplan uses the agent", inv.Key, inv.File)
		}
		if err != nil {
			return nil, crmplan.Errorf(crmplan.EINVALID, "ssh key %s: %w", inv.Key, err).In(inv.File + ": ssh.key").
				Try("key: ~/.ssh/id_ed25519 (an OpenSSH private key)")
		}
		return []gossh.AuthMethod{gossh.PublicKeys(signer)}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, crmplan.Errorf(crmplan.EINVALID, "no ssh key and no agent (SSH_AUTH_SOCK is not set)").In(inv.File+": ssh").
			Try("key: ~/.ssh/id_ed25519 under ssh: in %s, or eval $(ssh-agent) && ssh-add", inv.File)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EUNAVAILABLE, "ssh agent at %s: %w", sock, err).In("SSH_AUTH_SOCK").
			Try("eval $(ssh-agent) && ssh-add, or key: ~/.ssh/id_ed25519 under ssh: in %s", inv.File)
	}
	return []gossh.AuthMethod{gossh.PublicKeysCallback(agent.NewClient(c).Signers)}, nil
}

// client returns the connection to host's machine, dialling it (and the
// machines it is reached through) on first use. Machines are dialled in
// parallel; one machine once at a time.
func (t *Target) client(ctx context.Context, host string) (*conn, error) {
	lock := t.hostLock(host)
	lock.Lock()
	defer lock.Unlock()
	t.mu.Lock()
	c, ok := t.clients[host]
	t.mu.Unlock()
	if ok {
		// A connection the machine closed (a reboot, sshd restarted) is
		// dialled again.
		if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err == nil {
			return c, nil
		}
		c.Close()
	}
	m, ok := t.Inventory.Machines[host]
	if !ok {
		return nil, crmplan.Errorf(crmplan.EINVALID, "host %s has no machine in the inventory", host).In(t.Inventory.File).
			Try("add to %s:\n  hosts:\n    %s: {address: ADDRESS, user: root}", t.Inventory.File, host)
	}
	// Route refuses a loop of via:, which would deadlock here.
	if _, err := t.Inventory.Route(host); err != nil {
		return nil, err
	}
	var jump *conn
	if m.Via != "" {
		var err error
		if jump, err = t.client(ctx, m.Via); err != nil {
			return nil, err
		}
	}
	c, err := t.dial(ctx, m, jump)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.clients == nil {
		t.clients = map[string]*conn{}
	}
	t.clients[host] = c
	return c, nil
}

// hostLock is the lock that one machine's dial holds.
func (t *Target) hostLock(host string) *sync.Mutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dialing == nil {
		t.dialing = map[string]*sync.Mutex{}
	}
	if t.dialing[host] == nil {
		t.dialing[host] = &sync.Mutex{}
	}
	return t.dialing[host]
}

// dial logs in to m, directly or through jump (ProxyJump: a direct-tcpip
// channel of jump's connection), checking m's host key against the
// inventory's known_hosts.
func (t *Target) dial(ctx context.Context, m Machine, jump *conn) (*conn, error) {
	inv := t.Inventory
	addr := net.JoinHostPort(m.Address, strconv.Itoa(m.Port))
	where, from := "", "this machine"
	if jump != nil {
		where, from = " via "+m.Via, m.Via
	}
	place := "host " + m.Name
	known, err := knownhosts.New(inv.KnownHosts)
	if err != nil {
		return nil, crmplan.Errorf(crmplan.EINVALID, "known_hosts: %w", err).In(inv.File+": ssh.known_hosts").
			Try("ssh-keyscan -p %d %s >> %s (after checking the key out of band)", m.Port, m.Address, inv.KnownHosts)
	}
	auth, err := t.auth()
	if err != nil {
		return nil, err
	}
	var keyErr error
	var fingerprint string
	cfg := &gossh.ClientConfig{
		User:    m.User,
		Auth:    auth,
		Timeout: dialTimeout,
		HostKeyCallback: func(hostname string, remote net.Addr, key gossh.PublicKey) error {
			fingerprint = gossh.FingerprintSHA256(key)
			keyErr = known(hostname, remote, key)
			return keyErr
		},
		HostKeyAlgorithms: knownAlgorithms(known, addr),
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var nc net.Conn
	if jump == nil {
		nc, err = (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	} else {
		nc, err = jump.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		e := crmplan.Errorf(crmplan.EUNAVAILABLE, "cannot reach %s@%s%s: %w", m.User, addr, where, err).In(place)
		if jump == nil && (errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, e.Try("check that %s answers from %s (ssh -p %d %s@%s); a LAN machine only the DMZ reaches needs via: DMZ-HOST under hosts.%s in %s",
				addr, from, m.Port, m.User, m.Address, m.Name, inv.File)
		}
		if jump != nil {
			j := t.Inventory.Machines[m.Via]
			return nil, e.Try("check that sshd runs on %s and that %s reaches %s (ssh -J %s@%s:%d -p %d %s@%s)",
				m.Name, from, addr, j.User, j.Address, j.Port, m.Port, m.User, m.Address)
		}
		return nil, e.Try("check that sshd runs on %s and that %s reaches %s (ssh -p %d %s@%s)", m.Name, from, addr, m.Port, m.User, m.Address)
	}
	_ = nc.SetDeadline(time.Now().Add(dialTimeout))
	cc, chans, reqs, err := gossh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return nil, t.loginError(m, addr, fingerprint, keyErr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return &conn{Client: gossh.NewClient(cc, chans, reqs), fingerprint: fingerprint}, nil
}

// loginError says why logging in to m failed: its host key unknown or
// changed, or the key refused.
func (t *Target) loginError(m Machine, addr, fingerprint string, keyErr, err error) error {
	inv, place := t.Inventory, "host "+m.Name
	var ke *knownhosts.KeyError
	if errors.As(keyErr, &ke) && len(ke.Want) > 0 {
		return crmplan.Errorf(crmplan.EINVALID, "the host key of %s changed: it shows %s, %s:%d has another (%s)",
			addr, fingerprint, ke.Want[0].Filename, ke.Want[0].Line, gossh.FingerprintSHA256(ke.Want[0].Key)).In(place).
			Try("if %s was reinstalled, check its new key out of band, then ssh-keygen -f %s -R '%s' and add the new one", m.Name, inv.KnownHosts, knownhosts.Normalize(addr))
	}
	if keyErr != nil {
		return crmplan.Errorf(crmplan.EINVALID, "the host key of %s (%s) is not in %s: unknown host keys are refused", addr, fingerprint, inv.KnownHosts).In(place).
			Try("check the fingerprint on the machine (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then ssh-keyscan -p %d %s >> %s", m.Port, m.Address, inv.KnownHosts)
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		key := inv.Key
		if key == "" {
			key = "the agent's keys"
		}
		return crmplan.Errorf(crmplan.EINVALID, "%s@%s refused %s: %w", m.User, addr, key, err).In(place).
			Try("ssh-copy-id -i %s.pub -p %d %s@%s, or fix user: under hosts.%s in %s", inv.Key, m.Port, m.User, m.Address, m.Name, inv.File)
	}
	return crmplan.Errorf(crmplan.EUNAVAILABLE, "ssh to %s@%s: %w", m.User, addr, err).In(place).
		Try("ssh -p %d %s@%s", m.Port, m.User, m.Address)
}

// knownAlgorithms are the host key algorithms known_hosts has keys of for
// addr, so that the server is asked for one of those (it may hold several
// keys, and the first it offers need not be the one on record). The
// callback's KeyError for a key no one has lists them.
func knownAlgorithms(known gossh.HostKeyCallback, addr string) []string {
	var ke *knownhosts.KeyError
	if err := known(addr, &net.TCPAddr{}, noKey{}); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		if k.Key.Type() == gossh.KeyAlgoRSA {
			algos = append(algos, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256)
		}
		algos = append(algos, k.Key.Type())
	}
	return algos
}

// noKey is a host key no known_hosts holds.
type noKey struct{}

func (noKey) Type() string                          { return "crmplan-no-key" }
func (noKey) Marshal() []byte                       { return []byte("crmplan-no-key") }
func (noKey) Verify([]byte, *gossh.Signature) error { return errors.New("no key") }

// run runs a shell script on host's machine and returns its standard
// output; a failure carries its standard error.
func (t *Target) run(ctx context.Context, host, script string) (string, error) {
	c, err := t.client(ctx, host)
	if err != nil {
		return "", err
	}
	return c.run(ctx, script)
}

func (c *conn) run(ctx context.Context, script string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var stdout, stderr strings.Builder
	s.Stdout, s.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- s.Run("sh -c " + quote(script)) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = s.Signal(gossh.SIGKILL)
		return "", ctx.Err()
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// quote makes s one word of a POSIX shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// binary is a local file install puts on a machine.
type binary struct{ local, remote string }

// install puts each binary's local file at its remote path (mode 0755)
// unless it is there with the same SHA-256 already, and checks each
// copy's SHA-256 before it replaces the file: a binary cut short is never
// run. Beside each, FILE.sha256 records its size, modification time and
// SHA-256 once checked, so that the next apply reads the sum instead of
// hashing the file again (the agent is over 100 MB); a file changed since
// does not match the record and is hashed. The machine is asked in one
// round trip (after prelude, a script that makes their directories), and
// one more after the copies when there are any: on a loaded machine each
// SSH session costs a process start on the far side.
func (t *Target) install(ctx context.Context, c *conn, prelude string, bins ...binary) error {
	want := make([]string, len(bins))
	var ask strings.Builder
	ask.WriteString(prelude)
	for i, b := range bins {
		sum, err := t.sums.of(b.local)
		if err != nil {
			return err
		}
		want[i] = sum
		fmt.Fprintf(&ask, "f=%s\n", quote(b.remote))
		ask.WriteString(`if [ -f "$f" ] && [ -f "$f.sha256" ] && [ "$(stat -c '%s %Y' "$f")" = "$(cut -d' ' -f1,2 "$f.sha256")" ]; then
  cut -d' ' -f3 "$f.sha256"
elif [ -f "$f" ]; then
  sha256sum -- "$f" | cut -d' ' -f1
else
  echo none
fi
if [ -f "$f" ]; then chmod 0755 "$f"; fi
`)
	}
	out, err := c.run(ctx, ask.String())
	if err != nil {
		return err
	}
	have := strings.Fields(out)
	var copied []int
	for i := range bins {
		if i >= len(have) || have[i] != want[i] {
			copied = append(copied, i)
		}
	}
	if len(copied) == 0 {
		return nil
	}
	sc, err := sftp.NewClient(c.Client, sftp.UseConcurrentWrites(true))
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer sc.Close()
	after := "set -e\n"
	for _, i := range copied {
		if err := sftpPut(sc, bins[i].local, bins[i].remote+".crmplan-upload"); err != nil {
			return err
		}
		after += fmt.Sprintf(`f=%[1]s; got=$(sha256sum -- "$f.crmplan-upload" | cut -d' ' -f1)
[ "$got" = %[2]s ] || { rm -f "$f.crmplan-upload"; echo "upload of $f: SHA-256 $got on the machine, %[2]s here" >&2; exit 1; }
chmod 0755 "$f.crmplan-upload"; mv -f "$f.crmplan-upload" "$f"
printf '%%s %%s\n' "$(stat -c '%%s %%Y' "$f")" %[2]s > "$f.sha256"
`, quote(bins[i].remote), want[i])
	}
	if _, err := c.run(ctx, after); err != nil {
		return crmplan.Errorf(crmplan.EUNAVAILABLE, "install: %w", err)
	}
	return nil
}

// sftpPut copies the local file to remote over SFTP.
func sftpPut(sc *sftp.Client, local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	dst, err := sc.OpenFile(remote, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("sftp %s: %w", remote, err)
	}
	if _, err := dst.ReadFrom(f); err != nil {
		dst.Close()
		return fmt.Errorf("sftp %s: %w", remote, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("sftp %s: %w", remote, err)
	}
	return nil
}

// writeScript is a shell script that writes each file of files (the
// remote path and its content) with mode, atomically: small files (a
// node's config, certificate and keys) go to the machine inside the
// script that uses them, in the same round trip, rather than one SFTP
// exchange each.
func writeScript(files map[string][]byte, mode os.FileMode) string {
	var b strings.Builder
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tmp := quote(name + ".crmplan-upload")
		fmt.Fprintf(&b, "base64 -d > %s <<'CRMPLAN-EOF'\n%s\nCRMPLAN-EOF\nchmod %o %s\nmv -f %s %s\n",
			tmp, base64.StdEncoding.EncodeToString(files[name]), mode, tmp, tmp, quote(name))
	}
	return b.String()
}

// sums remembers the SHA-256 of local files by size and modification
// time: every host gets the same binaries, hashed once.
type sums struct {
	mu sync.Mutex
	by map[string]sum
}

type sum struct {
	size  int64
	mtime time.Time
	hex   string
}

func (s *sums) of(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.by[path]; ok && c.size == st.Size() && c.mtime.Equal(st.ModTime()) {
		return c.hex, nil
	}
	h, err := target.FileSHA256(path)
	if err != nil {
		return "", err
	}
	if s.by == nil {
		s.by = map[string]sum{}
	}
	s.by[path] = sum{size: st.Size(), mtime: st.ModTime(), hex: h}
	return h, nil
}
