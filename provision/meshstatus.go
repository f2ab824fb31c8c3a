package provision

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/crmplan/crmplan/provision/mesh"
	"github.com/crmplan/crmplan/provision/stackdir"
)

// meshStatus reads a host's mesh node and installed release from its
// directory: "" for both on a host the mesh never reached.
func meshStatus(hostDir string) (node, release string) {
	if _, err := os.Stat(stackdir.HostMeshDir(hostDir)); err == nil {
		node = "DOWN"
		if pid, ok := mesh.HostNodeRunning(hostDir); ok {
			node = fmt.Sprintf("up, pid %d", pid)
		}
	}
	if t, err := os.Readlink(filepath.Join(hostDir, "current")); err == nil {
		release = filepath.Base(t)
	}
	return node, release
}
