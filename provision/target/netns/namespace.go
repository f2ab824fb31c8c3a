package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/crmplan/crmplan"
)

// nsDir is where named network namespaces are bind-mounted, as iproute2
// does: `ip netns exec crm-… ss -ltn` works on them.
const nsDir = "/run/netns"

func nsPath(name string) string { return filepath.Join(nsDir, name) }

// onThrowawayThread runs fn on an OS thread of its own that ends with it:
// whatever namespace fn moves the thread into can never leak into the rest
// of the program (a goroutine that exits locked takes its thread along).
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}

// inNamespace runs fn on a throwaway thread inside the named namespace.
func inNamespace(name string, fn func() error) error {
	return onThrowawayThread(func() error {
		ns, err := vns.GetFromPath(nsPath(name))
		if err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		defer ns.Close()
		if err := vns.Set(ns); err != nil {
			return fmt.Errorf("enter namespace %s: %w", name, err)
		}
		return fn()
	})
}

// nsExists says whether the named namespace is mounted. A file that is no
// namespace (a crash between creating the file and mounting on it) is not.
func nsExists(name string) bool {
	var st unix.Statfs_t
	return unix.Statfs(nsPath(name), &st) == nil && st.Type == unix.NSFS_MAGIC
}

// createNamespace makes the named namespace unless it exists, with the
// sysctls it needs set from the start.
func createNamespace(name string, sysctls map[string]string) error {
	if nsExists(name) {
		return nil
	}
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		return err
	}
	_ = os.Remove(nsPath(name)) // a leftover file a crash left unmounted
	return onThrowawayThread(func() error {
		ns, err := vns.NewNamed(name)
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		ns.Close()
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("namespace %s: loopback: %w", name, err)
		}
		return writeSysctls(sysctls)
	})
}

// writeSysctls writes net.* sysctls of the calling thread's namespace.
func writeSysctls(sysctls map[string]string) error {
	for key, value := range sysctls {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}

// deleteNamespace kills what still runs in the named namespace, then
// removes it. A namespace that is gone is no error.
func deleteNamespace(name string) error {
	if err := killIn(name); err != nil {
		return err
	}
	if err := unix.Unmount(nsPath(name), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount namespace %s: %w", name, err)
	}
	if err := os.Remove(nsPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace %s: %w", name, err)
	}
	return nil
}

// killIn SIGKILLs every process of the named namespace and waits until
// they are gone: a process left there would keep the namespace, its
// interfaces and its addresses alive after Destroy.
func killIn(name string) error {
	pids, err := pidsIn(name)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pids, err = pidsIn(name); err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: processes %v outlive SIGKILL", name, pids)
		}
	}
}

// pidsIn lists the live processes whose network namespace is the named one.
func pidsIn(name string) ([]int, error) {
	var st unix.Stat_t
	if err := unix.Stat(nsPath(name), &st); err != nil || !nsExists(name) {
		return nil, nil
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == want && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z")
}

// namespaces lists the named namespaces whose names start with prefix.
func namespaces(prefix string) ([]string, error) {
	entries, err := os.ReadDir(nsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, err
}

// lock serializes the target's changes on this machine (every stack's):
// hosts of a tier are created and destroyed in parallel, and the last one
// of a stack to go takes the router with it. Each change takes
// milliseconds.
func lock() (unlock func(), err error) {
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Open(nsDir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", nsDir, err)
	}
	return func() { f.Close() }, nil
}

// capable says, with a crmplan error a user can act on, why this machine
// cannot make isolated hosts: not root, or no network namespaces, veth
// pairs, bridges or nftables. It tries them in a scratch namespace that
// vanishes with its thread, so it makes nothing.
func capable() error {
	fail := func(why string, args ...any) error {
		return crmplan.Errorf(crmplan.EINVALID, "--isolate needs root and network namespaces: "+why, args...).
			In("--isolate").Try("sudo crmplan apply --isolate (or apply without --isolate)")
	}
	if uid := os.Geteuid(); uid != 0 {
		return fail("crmplan runs as uid %d, not root", uid)
	}
	err := onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare a network namespace: %w", err)
		}
		ns, err := vns.Get()
		if err != nil {
			return err
		}
		defer ns.Close()
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, PeerName: "probe1"}); err != nil {
			return fmt.Errorf("veth pair: %w", err)
		}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probebr"}}); err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
			return fmt.Errorf("bridge netfilter (br_netfilter): %w", err)
		}
		conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
		if err == nil {
			conn.AddTable(&nftables.Table{Name: "probe", Family: nftables.TableFamilyINet})
			err = conn.Flush()
		}
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		return nil
	})
	if err != nil {
		return fail("%v", err)
	}
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		return fail("%v", err)
	}
	return nil
}
