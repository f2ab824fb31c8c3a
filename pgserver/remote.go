package pgserver

import (
	"fmt"
	"maps"
	"net"
)

// Remote is a handle on a server that runs on another host, known only by
// its address and superuser password: the primary a replica is taken from
// with BaseBackup, or the source of a Rewind, when the two run on hosts
// that share no file system. Settings are the remote server's own (a
// rewound replica takes them over). Methods that need the server's
// directory (Start, Stop, PID, Configure) are not for a Remote.
func Remote(addr, password string, settings map[string]string) (*Server, error) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" || port == "0" {
		return nil, fmt.Errorf("pgserver: remote server %q: host:port with a port is required", addr)
	}
	m := meta{Name: addr, Password: password, Settings: maps.Clone(settings)}
	if err := m.setAddr(addr); err != nil {
		return nil, err
	}
	return &Server{meta: m, remote: true}, nil
}
