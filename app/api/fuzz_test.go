package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/crmplan/crmplan/app"
)

// FuzzDecodeRequest feeds arbitrary bodies to the API's JSON decoding:
// decodeStrict for the sign-in and token requests, and every resource's
// DecodePatch (DecodeCreate has FuzzDecodeCreate, users FuzzDecodeUser).
// It must never panic; a refusal is EINVALID; an accepted body is one
// valid JSON object, a decoded request encodes and decodes back to
// itself, and a patch never writes a read-only column.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com","password":"password1"}`, `{"name":"ci"}`, `{"name":"A","amount":12.5}`,
		`{"email":"a@example.com","email":"b@example.com"}`, `{"id":3}`, `{"email":"x"} {}`, `{"name":"\u0000"}`,
		`{}`, `null`, `[]`, `"x"`, ``, `{"stage":"won","amount":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		roundTrip(t, body, &signInRequest{})
		roundTrip(t, body, &tokenRequest{})
		for _, r := range app.Resources {
			c, err := r.DecodePatch(body)
			if err != nil {
				if app.ErrorCode(err) != app.EINVALID {
					t.Fatalf("%s: code %s for %v", r.Name, app.ErrorCode(err), err)
				}
				continue
			}
			if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
				t.Fatalf("%s: accepted %q, which is not one JSON object", r.Name, body)
			}
			for _, col := range c.Columns {
				if slices.Contains([]string{"id", "created_at", "updated_at"}, col) {
					t.Fatalf("%s: patch %q writes read-only %s", r.Name, body, col)
				}
			}
		}
	})
}

// roundTrip decodes body into v with decodeStrict and, when it is
// accepted, checks it was one JSON object and that v encodes to a body
// that decodes to v again.
func roundTrip[T comparable](t *testing.T, body []byte, v *T) {
	t.Helper()
	if err := decodeStrict(body, v); err != nil {
		if app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("%T: code %s for %v", v, app.ErrorCode(err), err)
		}
		return
	}
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		t.Fatalf("%T: accepted %q, which is not one JSON object", v, body)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T: encode %+v: %v", v, *v, err)
	}
	var back T
	if err := decodeStrict(out, &back); err != nil || back != *v {
		t.Fatalf("%T: %q decoded to %+v, encoded %s, read back %+v (%v)", v, body, *v, out, back, err)
	}
}
