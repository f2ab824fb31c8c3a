package vpn

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestKey: RFC 7748's X25519 test vector (Alice's key pair) through the
// base64 text form `wg` uses; bad text is refused with what was wrong.
func TestKey(t *testing.T) {
	var priv Key
	b, _ := hex.DecodeString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	copy(priv[:], b)
	if got, want := hex.EncodeToString(priv.Public().bytes()), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"; got != want {
		t.Errorf("public key %s, want %s", got, want)
	}
	back, err := ParseKey(priv.String())
	if err != nil || back != priv {
		t.Errorf("ParseKey(%s) = %v, %v; want the key back", priv, back, err)
	}
	g, err := GenerateKey()
	if err != nil || g[0]&7 != 0 || g[31]&128 != 0 || g[31]&64 == 0 {
		t.Errorf("GenerateKey = %x, %v; want a clamped key", g, err)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"not base64", strings.Repeat("!", 44)},
		{"31 bytes", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseKey(tt.in); err == nil || !strings.Contains(err.Error(), "32 bytes in base64") {
				t.Errorf("ParseKey(%q) = %v, want refused", tt.in, err)
			}
		})
	}
}

func (k Key) bytes() []byte { return k[:] }
