// Package proxy is the access and distribution proxy (crm proxy, seed
// 002): the one way in from outside, standing in the DMZ and forwarding
// only the allowed paths to a LAN tier (the integrator cluster, or the web
// tier), balanced over its healthy servers.
package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Route sends the paths under Prefix to Next rather than the main tier:
// the admin consoles under /admin/, say.
type Route struct {
	Prefix string
	Next   http.Handler
}

// Handler forwards requests whose path starts with one of allow to next
// and answers 404 for the rest, so the proxy exposes no more of the LAN
// tier than the plan means to (its /metrics, for one, stays inside).
// An empty allow forwards everything. A path under a route's prefix goes
// to that route, allowed or not.
func Handler(next http.Handler, allow []string, routes ...Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range routes {
			if strings.HasPrefix(r.URL.Path, rt.Prefix) {
				r.Header.Set("X-Forwarded-By", "crm-proxy")
				rt.Next.ServeHTTP(w, r)
				return
			}
		}
		if !allowed(r.URL.Path, allow) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "not exposed by the access proxy"})
			return
		}
		r.Header.Set("X-Forwarded-By", "crm-proxy")
		next.ServeHTTP(w, r)
	})
}

func allowed(path string, allow []string) bool {
	if len(allow) == 0 {
		return true
	}
	for _, p := range allow {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
