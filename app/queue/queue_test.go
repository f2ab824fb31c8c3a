package queue

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func startBroker(t *testing.T, name string, peers ...string) (*Broker, *httptest.Server) {
	t.Helper()
	return serveBroker(t, httptest.NewUnstartedServer(nil), name, peers...)
}

// serveBroker runs a broker on srv, which may be listening already so that
// two brokers can name each other as peers.
func serveBroker(t *testing.T, srv *httptest.Server, name string, peers ...string) (*Broker, *httptest.Server) {
	t.Helper()
	b := New(Config{Name: name, Peers: peers, Retain: 3, MaxBody: 32, Log: slog.New(slog.DiscardHandler)}, nil)
	srv.Config.Handler = b.Handler()
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	t.Cleanup(func() { cancel(); srv.Close() })
	return b, srv
}

func post(t *testing.T, base, topic, body string) int {
	t.Helper()
	res, err := http.Post(base+"/v1/topics/"+topic+"/messages", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func poll(t *testing.T, base, topic, query string) []Message {
	t.Helper()
	res, err := http.Get(base + "/v1/topics/" + topic + "/messages?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct{ Messages []Message }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%d %s: %v", res.StatusCode, b, err)
	}
	return out.Messages
}

func bodies(ms []Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Origin+":"+m.Body)
	}
	return strings.Join(s, ",")
}

// TestBrokerPair publishes on two brokers that forward to each other (one
// per LAN): each subscriber sees every message exactly once.
func TestBrokerPair(t *testing.T) {
	aSrv, bSrv := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	aURL, bURL := "http://"+aSrv.Listener.Addr().String(), "http://"+bSrv.Listener.Addr().String()
	serveBroker(t, aSrv, "lan-a", bURL)
	serveBroker(t, bSrv, "lan-b", aURL)

	// A subscriber waiting on b before anything is published wakes up.
	got := make(chan []Message, 1)
	go func() { got <- poll(t, bSrv.URL, "orders", "wait=10s") }()
	time.Sleep(50 * time.Millisecond)
	if c := post(t, aSrv.URL, "orders", "o1"); c != 201 {
		t.Fatalf("publish = %d", c)
	}
	if s := bodies(<-got); s != "lan-a:o1" {
		t.Fatalf("long poll on b = %q", s)
	}
	post(t, bSrv.URL, "orders", "o2")
	deadline := time.Now().Add(5 * time.Second)
	for bodies(poll(t, aSrv.URL, "orders", "wait=1s")) != "lan-a:o1,lan-b:o2" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	tests := []struct {
		name, base, query, want string
	}{
		{"a sees both once", aSrv.URL, "wait=0s", "lan-a:o1,lan-b:o2"},
		{"b sees both once", bSrv.URL, "wait=0s", "lan-a:o1,lan-b:o2"},
		{"after skips seen", bSrv.URL, "after=1&wait=0s", "lan-b:o2"},
		{"empty poll times out", bSrv.URL, "after=2&wait=10ms", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := bodies(poll(t, tt.base, "orders", tt.query)); s != tt.want {
				t.Fatalf("got %q, want %q", s, tt.want)
			}
		})
	}
}

func TestBrokerLimits(t *testing.T) {
	_, srv := startBroker(t, "solo")
	tests := []struct {
		name, topic, body string
		want              int
	}{
		{"ok", "t", "x", 201},
		{"too large", "t", strings.Repeat("x", 33), 413},
		{"bad topic", "a%20b", "x", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := post(t, srv.URL, tt.topic, tt.body); c != tt.want {
				t.Fatalf("publish = %d, want %d", c, tt.want)
			}
		})
	}
	for _, b := range []string{"2", "3", "4", "5"} {
		post(t, srv.URL, "t", b)
	}
	if s := bodies(poll(t, srv.URL, "t", "wait=0s")); s != "solo:3,solo:4,solo:5" {
		t.Errorf("retention of 3 kept %q", s)
	}
}
