package watchdog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmplan/crmplan/pgserver"
	"github.com/crmplan/crmplan/provision/mesh/agent"
	"github.com/crmplan/crmplan/provision/stackdir"
)

const testSecret = "the-stack-lease-secret-of-32-chars"

// syncBuffer is a log that the guard's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// leaseRoot is a directory the postgres user can enter, with host dirs.
func leaseRoot(t *testing.T, hosts ...string) stackdir.Paths {
	t.Helper()
	root, err := os.MkdirTemp("/tmp", "crmplan-lease-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	paths := stackdir.Paths{StateDir: root, Stack: "lease"}
	for _, h := range hosts {
		if err := os.MkdirAll(paths.HostDir(h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// startPrimary starts a real primary in hostDir's pg directory.
func startPrimary(t *testing.T, ctx context.Context, hostDir, addr string) *pgserver.Server {
	t.Helper()
	srv, err := pgserver.Init(ctx, pgserver.Config{Dir: agent.PostgresDir(hostDir), Addr: addr, Ephemeral: true, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return srv
}

// startGuard serves a guard of hostDir on a loopback port until the test
// (or the returned stop) ends it.
func startGuard(t *testing.T, hostDir string, lease time.Duration, log *syncBuffer) (string, context.CancelFunc) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	g := &Guard{HostDir: hostDir, Stack: "lease", Secret: []byte(testSecret), Lease: lease, Log: log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(ctx, ln)
	}()
	t.Cleanup(func() { stop(); <-done })
	return ln.Addr().String(), stop
}

// TestGuardRefusesUnsigned attacks a real guard in front of a real
// primary: messages under another secret, a signature made for another
// nonce (a replay) and an unknown verb are refused, none arms or fences
// anything, and the stack's own signed fence does fence the primary.
func TestGuardRefusesUnsigned(t *testing.T) {
	needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths := leaseRoot(t, "p")
	primary := startPrimary(t, ctx, paths.HostDir("p"), "127.67.200.1:0")
	var log syncBuffer
	addr, _ := startGuard(t, paths.HostDir("p"), 300*time.Millisecond, &log)

	wrong := []byte("another-stack-lease-secret-xxxxxx")
	for _, verb := range []string{VerbRenew, VerbFence, VerbRelease} {
		if word, err := SendLease(ctx, addr, "lease", wrong, verb); !errors.Is(err, ErrRefused) {
			t.Errorf("%s under another secret: %q %v, want refused", verb, word, err)
		}
	}
	if word, err := SendLease(ctx, addr, "other-stack", []byte(testSecret), VerbFence); !errors.Is(err, ErrRefused) {
		t.Errorf("fence signed for another stack: %q %v, want refused", word, err)
	}
	// A valid signature, but for a nonce the guard did not send.
	if reply := rawLease(t, addr, func(string) string {
		return VerbFence + " " + leaseMAC([]byte(testSecret), VerbFence, "lease", "a-recorded-nonce")
	}); !strings.HasPrefix(reply, "refused") {
		t.Errorf("replayed fence: guard said %q, want refused", reply)
	}
	if reply := rawLease(t, addr, func(nonce string) string {
		return "promote " + leaseMAC([]byte(testSecret), "promote", "lease", nonce)
	}); !strings.HasPrefix(reply, "refused") {
		t.Errorf("unknown verb: guard said %q, want refused", reply)
	}
	// Refused renewals arm nothing: past the lease the primary still runs.
	time.Sleep(time.Second)
	if err := primary.AnswersAsPrimary(ctx); err != nil {
		t.Fatalf("refused messages fenced the primary: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "not signed with the stack's lease secret") {
		t.Errorf("guard log does not say why it refused:\n%s", log.String())
	}

	word, err := SendLease(ctx, addr, "lease", []byte(testSecret), VerbFence)
	if err != nil || word != ReplyFenced {
		t.Fatalf("signed fence: %q %v\n%s", word, err, log.String())
	}
	if _, alive := primary.PID(); alive {
		t.Errorf("the guard answered fenced, but the primary runs")
	}
	if srv, err := pgserver.Open(primary.Dir()); err != nil || !srv.Fenced() {
		t.Errorf("the primary carries no fence mark (%v)", err)
	}
}

// rawLease speaks the protocol by hand: line makes the watchdog's line
// from the guard's nonce; it returns the guard's answer.
func rawLease(t *testing.T, addr string, line func(nonce string) string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	hello, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	nonce := strings.TrimPrefix(strings.TrimSpace(hello), leaseHello+" ")
	fmt.Fprintf(conn, "%s\n", line(nonce))
	reply, _ := r.ReadString('\n')
	return strings.TrimSpace(reply)
}

// TestGuardLeaseExpiry: an armed guard fences its primary once the lease
// runs out without a renewal; one the watchdog released does not.
func TestGuardLeaseExpiry(t *testing.T) {
	needPostgres(t)
	tests := []struct {
		name       string
		release    bool
		wantFenced bool
	}{
		{"renewals stop", false, true},
		{"released", true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			paths := leaseRoot(t, "p")
			primary := startPrimary(t, ctx, paths.HostDir("p"), fmt.Sprintf("127.67.200.%d:0", 10+i))
			var log syncBuffer
			lease := 500 * time.Millisecond
			addr, _ := startGuard(t, paths.HostDir("p"), lease, &log)
			for range 3 {
				if word, err := SendLease(ctx, addr, "lease", []byte(testSecret), VerbRenew); err != nil || word != ReplyGranted {
					t.Fatalf("renew: %q %v", word, err)
				}
				time.Sleep(lease / 3)
			}
			if err := primary.AnswersAsPrimary(ctx); err != nil {
				t.Fatalf("renewed in time, the primary was fenced: %v\n%s", err, log.String())
			}
			if tt.release {
				if word, err := SendLease(ctx, addr, "lease", []byte(testSecret), VerbRelease); err != nil || word != ReplyReleased {
					t.Fatalf("release: %q %v", word, err)
				}
			}
			// Released: time enough for an armed lease to expire many times
			// over; else until the fence (it stops the server: seconds).
			wait := 6 * lease
			if !tt.release {
				wait += 20 * time.Second
			}
			err := waitFor(ctx, wait, func(context.Context) error {
				if _, alive := primary.PID(); alive {
					return errors.New("the primary runs")
				}
				return nil
			})
			if fenced := err == nil; fenced != tt.wantFenced {
				t.Fatalf("primary fenced %v, want %v\n%s", fenced, tt.wantFenced, log.String())
			}
			if word, err := SendLease(ctx, addr, "lease", []byte(testSecret), VerbRenew); tt.wantFenced && (err != nil || word != ReplyFenced) {
				t.Errorf("renewal after the expiry: %q %v, want fenced (it stays fenced)", word, err)
			}
		})
	}
}

// TestWatchdogLeaseHostLost runs the ssh target's watchdog against real
// servers on two "machines" that share nothing but the network: the
// primary's host is lost whole (its guard and its postgres gone), so the
// watchdog cannot ask for the fence; it promotes its own host's replica
// once the lease it last had granted surely expired, and keeps the record
// on its host.
func TestWatchdogLeaseHostLost(t *testing.T) {
	needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths := leaseRoot(t, "p", "r")
	primary := startPrimary(t, ctx, paths.HostDir("p"), "127.67.200.20:0")
	replica, err := pgserver.BaseBackup(ctx, primary, pgserver.Config{Dir: agent.PostgresDir(paths.HostDir("r")), Addr: "127.67.200.21:0",
		Ephemeral: true, StopWithParent: true}, pgserver.ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Stop(context.Background()) })
	var guardLog, log syncBuffer
	lease := time.Second
	addr, loseHost := startGuard(t, paths.HostDir("p"), lease, &guardLog)

	record := filepath.Join(paths.HostDir("r"), "failover.json")
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(wctx, Config{Paths: paths, Primary: "p", Replicas: []string{DBHost{Name: "r", Dir: paths.HostDir("r")}.String()},
			Interval: 100 * time.Millisecond, Probes: 3, Record: record,
			Lease: &Lease{Guard: addr, Secret: []byte(testSecret), Duration: lease}}, &log)
	}()
	defer func() { stop(); <-done }()
	if err := waitFor(ctx, 10*time.Second, func(context.Context) error {
		if !strings.Contains(guardLog.String(), "armed by") {
			return errors.New("not armed")
		}
		return nil
	}); err != nil {
		t.Fatalf("the watchdog never renewed the lease: %v\n%s\n%s", err, log.String(), guardLog.String())
	}
	lost := time.Now()
	loseHost()
	if err := primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, 30*time.Second, func(context.Context) error { _, err := os.Stat(record); return err }); err != nil {
		t.Fatalf("no promotion recorded: %v\n%s", err, log.String())
	}
	took := time.Since(lost)
	t.Logf("watchdog log:\n%s", log.String())
	p, err := LoadPromotionFile(record)
	if err != nil || p.Promoted != "r" || p.Retired != "p" || !p.Automatic {
		t.Fatalf("promotion %+v (%v), want r over p by the watchdog", p, err)
	}
	if took < lease || !strings.Contains(log.String(), "waiting until its lease surely expired") {
		t.Errorf("promoted %s after the host's loss, before its lease of %s surely expired", took, lease)
	}
	if _, err := os.Stat(paths.FailoverRecord()); !os.IsNotExist(err) {
		t.Errorf("the watchdog wrote the stack's record on its host's machine (%v); want only %s", err, record)
	}
	if err := replica.Exec(ctx, "postgres", "CREATE TABLE after_failover (v int)"); err != nil {
		t.Errorf("the promoted replica refuses a write: %v", err)
	}
}

// TestWatchdogReleasesOnStop: a watchdog stopped on purpose (apply,
// crmplan failover, destroy) releases the lease before it exits, so that
// its guard does not fence a primary nobody will replace.
func TestWatchdogReleasesOnStop(t *testing.T) {
	needPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths := leaseRoot(t, "p", "r")
	primary := startPrimary(t, ctx, paths.HostDir("p"), "127.67.200.30:0")
	replica, err := pgserver.BaseBackup(ctx, primary, pgserver.Config{Dir: agent.PostgresDir(paths.HostDir("r")), Addr: "127.67.200.31:0",
		Ephemeral: true, StopWithParent: true}, pgserver.ReplicaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.Stop(context.Background()) })
	var guardLog, log syncBuffer
	lease := 500 * time.Millisecond
	addr, _ := startGuard(t, paths.HostDir("p"), lease, &guardLog)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(wctx, Config{Paths: paths, Primary: "p", Replicas: []string{DBHost{Name: "r", Dir: paths.HostDir("r")}.String()},
			Interval: 100 * time.Millisecond, Probes: 3, Record: filepath.Join(paths.HostDir("r"), "failover.json"),
			Lease: &Lease{Guard: addr, Secret: []byte(testSecret), Duration: lease}}, &log)
	}()
	if err := waitFor(ctx, 10*time.Second, func(context.Context) error {
		if !strings.Contains(guardLog.String(), "armed by") {
			return errors.New("not armed")
		}
		return nil
	}); err != nil {
		t.Fatalf("the watchdog never renewed the lease: %v\n%s", err, log.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("watchdog: %v\n%s", err, log.String())
	}
	if !strings.Contains(guardLog.String(), "released by the watchdog") {
		t.Fatalf("the stopped watchdog did not release the lease before it returned:\n%s", guardLog.String())
	}
	time.Sleep(4 * lease)
	if err := primary.AnswersAsPrimary(ctx); err != nil {
		t.Errorf("the guard fenced the primary after the watchdog released it: %v\n%s", err, guardLog.String())
	}
}
