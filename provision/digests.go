package provision

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/crmplan/crmplan/provision/stackdir"
	"github.com/crmplan/crmplan/provision/target"
)

// digests caches the SHA-256 of files by their identity: reading the
// four binaries a stack deploys (about 400 MB) costs more than a second,
// which a no-change apply would pay every time. As git's index does, an
// entry holds only while the file's device, inode, size, modification
// and change times are those it had when it was read; the change time is
// set by the kernel on every write or rename and cannot be put back, so
// a file rewritten in place, or replaced, is read again.
type digests struct {
	by      map[string]digestEntry
	changed bool
	// now is the clock; settle is how old a file's times must be for its
	// digest to be kept (a write within the same clock tick as the read
	// would leave the times unchanged).
	now    func() time.Time
	settle time.Duration
}

type digestEntry struct {
	Dev, Ino, Size int64
	Mtime, Ctime   int64 // nanoseconds
	SHA256         string
}

func loadDigests(paths stackdir.Paths) *digests {
	d := &digests{by: map[string]digestEntry{}, now: time.Now, settle: 2 * time.Second}
	if b, err := os.ReadFile(paths.Digests()); err == nil {
		_ = json.Unmarshal(b, &d.by) // a damaged cache is read again
	}
	return d
}

func (d *digests) save(paths stackdir.Paths) error {
	if !d.changed {
		return nil
	}
	b, err := json.Marshal(d.by)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(paths.Digests()), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(paths.Digests(), b, 0o600)
}

// sha256 is path's SHA-256 (hex), from the cache when the file is the one
// that was read.
func (d *digests) sha256(path string) (string, error) {
	before, err := identity(path)
	if err != nil {
		return "", err
	}
	if e, ok := d.by[path]; ok && e.same(before) {
		return e.SHA256, nil
	}
	digest, err := target.FileSHA256(path)
	if err != nil {
		return "", err
	}
	after, err := identity(path)
	if err != nil {
		return "", err
	}
	recent := d.now().Add(-d.settle).UnixNano()
	if after.same(before) && before.Ctime < recent && before.Mtime < recent {
		before.SHA256 = digest
		d.by[path], d.changed = before, true
	} else if _, ok := d.by[path]; ok {
		delete(d.by, path)
		d.changed = true
	}
	return digest, nil
}

func (e digestEntry) same(o digestEntry) bool {
	return e.Dev == o.Dev && e.Ino == o.Ino && e.Size == o.Size && e.Mtime == o.Mtime && e.Ctime == o.Ctime
}

// identity is what says path is still the file that was read (symbolic
// links followed: the binaries are often reached through one).
func identity(path string) (digestEntry, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return digestEntry{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return digestEntry{Dev: int64(st.Dev), Ino: int64(st.Ino), Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, nil
}
