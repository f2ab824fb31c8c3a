package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/web"
)

// webBackends is crm web's list of api servers: the --backend flags, and
// the lines of --backends-file when one is given. The file is what a
// deploy changes when the api tier scales: it outlives a restart and a
// socket handover (which re-executes the same argv), and POST /reload on
// the admin socket applies it to the running balancer.
func webBackends(flags []string, file string) ([]string, error) {
	if file == "" {
		if len(flags) == 0 {
			return nil, app.Errorf(app.EINVALID, "no api server to balance: give --backend http://127.0.0.1:8081 (repeat) or --backends-file FILE").In("--backend")
		}
		return flags, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--backends-file: %w", err)
	}
	out := append([]string(nil), flags...)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, nil
}

// webAdminHandler is the balancer's admin control plus POST /reload, which
// re-reads the backends (flags and file) and makes them the balancer's:
// it answers when new backends take traffic and removed ones have
// finished their requests (web.Balancer.SetBackends).
func webAdminHandler(b *web.Balancer, backends func() ([]string, error)) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", web.AdminHandler(b))
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		urls, err := backends()
		if err == nil {
			err = b.SetBackends(ctx, urls)
		}
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"backends": b.Backends()}
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			body["error"] = err.Error()
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	return mux
}
