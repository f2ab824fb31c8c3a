// Package ui holds the CRM's React front end. The built assets under dist/
// are committed and embedded so that `go build` of cmd/crm needs no Node.js;
// `make ui` rebuilds them and `make ui-check` proves they match the sources.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// FS returns the built UI rooted at dist/, so index.html is at its top.
// `crm web` serves it at / and falls back to index.html for client routes.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path name; "dist" is a constant.
		panic(err)
	}
	return sub
}
