package mail

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRelayDeliversToMaildir sends a real notification over SMTP through
// the relay and reads it back from the Maildir; a client without the key
// delivers nothing; HTTP health is answered on the same port.
func TestRelayDeliversToMaildir(t *testing.T) {
	addr, maildir := StartTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := Notifier{Addr: addr, Password: TestPassword, From: "scheduler@crm.local", To: []string{"ops@crm.local"}}
	if err := n.Send(ctx, "job report: no worker took it", "report at 12:00: no target took it\nsecond line"); err != nil {
		t.Fatal(err)
	}
	msgs := Delivered(t, maildir, 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the Maildir, want 1", len(msgs))
	}
	for _, want := range []string{"Return-Path: <scheduler@crm.local>", "Delivered-To: ops@crm.local", "with ESMTPA",
		"Subject: job report: no worker took it", "To: ops@crm.local", "\r\n\r\nreport at 12:00: no target took it\r\nsecond line\r\n"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("the delivered message lacks %q:\n%s", want, msgs[0])
		}
	}

	tests := []struct {
		name     string
		password string
		wantErr  string
	}{
		{"wrong key", "not-the-key-at-all-0000", "authentication refused"},
		{"short key", "x", "authentication refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := n
			bad.Password = tt.password
			if err := bad.Send(ctx, "forged", "forged"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Send with a %s = %v, want %q", tt.name, err, tt.wantErr)
			}
		})
	}
	t.Run("no auth", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if greet, _ := r.ReadString('\n'); !strings.HasPrefix(greet, "220 ") {
			t.Fatalf("greeting %q, want 220", greet)
		}
		fmt.Fprint(c, "HELO x\r\n")
		_, _ = r.ReadString('\n')
		fmt.Fprint(c, "MAIL FROM:<a@b>\r\n")
		if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "5") {
			t.Errorf("MAIL without AUTH = %q, want a 5xx refusal", line)
		}
	})
	if msgs := Delivered(t, maildir, 2, 200*time.Millisecond); len(msgs) != 1 {
		t.Errorf("%d messages after the refused attempts, want still 1", len(msgs))
	}

	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", res.StatusCode)
	}
}
