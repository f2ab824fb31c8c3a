package provision

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// Secret is a random password generated once per stack and kept in the
// stack's state as a Pulumi secret (encrypted with the stack's passphrase).
type Secret struct{}

// SecretArgs are the inputs of a Secret.
type SecretArgs struct {
	// Purpose names what the secret is for; changing it makes a new secret.
	Purpose string `pulumi:"purpose"`
}

// SecretState holds the generated value.
type SecretState struct {
	SecretArgs
	Value string `pulumi:"value" provider:"secret"`
}

func (*Secret) Annotate(a infer.Annotator) { a.SetToken("index", "Secret") }

// Create generates 24 random bytes, URL-safe base64: safe inside
// connection URLs and SQL literals.
func (*Secret) Create(ctx context.Context, req infer.CreateRequest[SecretArgs]) (infer.CreateResponse[SecretState], error) {
	out := SecretState{SecretArgs: req.Inputs}
	if !req.DryRun {
		out.Value = randomToken(24)
	}
	return infer.CreateResponse[SecretState]{ID: req.Inputs.Purpose, Output: out}, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
