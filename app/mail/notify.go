package mail

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Notifier sends a role's notifications through a relay.
type Notifier struct {
	Addr     string   // the relay, host:port
	Password string   // the service key
	From     string   // e.g. scheduler@crm.local
	To       []string // the operators
	// Hello is the name the client greets the relay with; default the
	// machine's host name.
	Hello string
}

// Send mails subject and body (plain text) to n.To, giving up when ctx
// ends.
func (n Notifier) Send(ctx context.Context, subject, body string) error {
	return n.sendRaw(ctx, strings.NewReader(n.message(subject, body)))
}

// sendRaw sends msg, a whole RFC 5322 message, from n.From to n.To.
func (n Notifier) sendRaw(ctx context.Context, msg io.Reader) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.Addr)
	if err != nil {
		return fmt.Errorf("mail relay %s: %w", n.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	host := n.Hello
	if host == "" {
		host, _ = os.Hostname()
	}
	if err := c.Hello(host); err != nil {
		return fmt.Errorf("mail relay %s: %w", n.Addr, err)
	}
	if err := c.Auth(sasl.NewPlainClient("", User, n.Password)); err != nil {
		return fmt.Errorf("mail relay %s: %w", n.Addr, err)
	}
	if err := c.SendMail(n.From, n.To, msg); err != nil {
		return fmt.Errorf("mail relay %s: %w", n.Addr, err)
	}
	return c.Quit()
}

// message is an RFC 5322 message: headers, a blank line, the body with
// CRLF line ends.
func (n Notifier) message(subject, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", n.From, strings.Join(n.To, ", "),
		mime.QEncoding.Encode("utf-8", subject), time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return b.String()
}
