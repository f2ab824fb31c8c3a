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

// TestRelayForwards is seed 002's ARMAIL "1 per machine": the relay on a
// role's own machine hands what the role sends on to the cluster's relay,
// which delivers it; the message's trace names both, the machine's relay
// first on the path (lowest). A cluster relay that cannot be reached fails
// the sender's DATA with 451: the notification is not taken and lost.
func TestRelayForwards(t *testing.T) {
	central, maildir := StartTest(t)
	onMachine := StartTestConfig(t, Config{Forward: central, Domain: "scheduler-1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := Notifier{Addr: onMachine, Password: TestPassword, From: "scheduler@crm.local", To: []string{"ops@crm.local"}}
	if err := n.Send(ctx, "job report: no worker took it", "sent on scheduler-1"); err != nil {
		t.Fatal(err)
	}
	msgs := Delivered(t, maildir, 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the cluster relay's Maildir, want 1", len(msgs))
	}
	byCentral := strings.Index(msgs[0], "by crm-mail (crm mail)")
	byMachine := strings.Index(msgs[0], "by scheduler-1 (crm mail)")
	if byCentral < 0 || byMachine < byCentral || !strings.Contains(msgs[0], "from scheduler-1 (") ||
		!strings.Contains(msgs[0], "Subject: job report: no worker took it") || !strings.Contains(msgs[0], "Delivered-To: ops@crm.local") {
		t.Errorf("the delivered message does not show its way through scheduler-1's relay:\n%s", msgs[0])
	}

	tests := []struct {
		name    string
		forward string
		key     string
		wantErr string
	}{
		{"cluster relay down", closedAddr(t), "", "451"},
		{"cluster relay refuses the key", central, "another-key-0123456789", "451"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := StartTestConfig(t, Config{Forward: tt.forward, Domain: "integration-2", Password: tt.key})
			n := n
			n.Addr = addr
			if tt.key != "" {
				n.Password = tt.key
			}
			if err := n.Send(ctx, "lost?", "x"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Send = %v, want %s", err, tt.wantErr)
			}
		})
	}
	if msgs := Delivered(t, maildir, 2, 200*time.Millisecond); len(msgs) != 1 {
		t.Errorf("%d messages after the failed forwards, want still 1", len(msgs))
	}
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
