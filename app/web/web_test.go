package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

// TestStaticCaching: the web tier serves the UI's files as Apache serves
// static content (seed 001): each with an ETag, a 304 with no body for a
// browser that has the same file, the hashed assets cached for a year and
// index.html revalidated every time.
func TestStaticCaching(t *testing.T) {
	ui := fstest.MapFS{
		"index.html":            {Data: []byte(`<script src="/assets/app-3f2a.js"></script>`)},
		"assets/app-3f2a.js":    {Data: []byte("console.log('v1')")},
		"assets/style-9c1b.css": {Data: []byte("body{}")},
	}
	srv := httptest.NewServer(uiHandler(ui))
	t.Cleanup(srv.Close)
	get := func(path, etag string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	tests := []struct {
		path, wantCache string
	}{
		{"/", "no-cache"},
		{"/index.html", "no-cache"},
		{"/contacts/42", "no-cache"}, // a client-side route: index.html
		{"/assets/app-3f2a.js", "public, max-age=31536000, immutable"},
		{"/assets/style-9c1b.css", "public, max-age=31536000, immutable"},
	}
	tags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := get(tt.path, "")
			tag := res.Header.Get("ETag")
			if res.StatusCode != 200 || body == "" || len(tag) < 3 || tag[0] != '"' {
				t.Fatalf("GET %s = %d, ETag %q, %d bytes; want 200 with a strong ETag and the file", tt.path, res.StatusCode, tag, len(body))
			}
			if got := res.Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tt.wantCache)
			}
			tags[tt.path] = tag
			res, body = get(tt.path, tag)
			if res.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("GET %s with If-None-Match: its ETag = %d with %d bytes, want 304 and none", tt.path, res.StatusCode, len(body))
			}
			if res, _ = get(tt.path, `"stale"`); res.StatusCode != 200 {
				t.Errorf("GET %s with a stale ETag = %d, want 200", tt.path, res.StatusCode)
			}
		})
	}
	if tags["/"] != tags["/index.html"] || tags["/contacts/42"] != tags["/index.html"] || tags["/index.html"] == tags["/assets/app-3f2a.js"] {
		t.Errorf("ETags %v: want index.html's for / and client routes, and each file its own", tags)
	}
	// A new release's index.html has another ETag: a browser's copy is stale.
	next := fstest.MapFS{"index.html": {Data: []byte(`<script src="/assets/app-77aa.js"></script>`)}}
	if tag := fileETags(next)["index.html"]; tag == tags["/index.html"] || tag == "" {
		t.Errorf("a changed index.html kept ETag %s", tag)
	}
}
