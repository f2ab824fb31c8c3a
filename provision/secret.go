package provision

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan/provision/stackdir"
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

// seededUsers are the users crm seed makes (admin@, manager@, then
// rep1..repN@example.com), each with their own password derived from key
// as crm seed derives it (app/seed.UserPassword: the planning side links
// nothing of app/, so the derivation is spelled twice, and
// TestSeededUsersMatchCrmSeed holds the two together).
func seededUsers(key []byte, reps int) []stackdir.Credentials {
	emails := []string{LoadUserEmail, "manager@example.com"}
	for i := 1; i <= reps; i++ {
		emails = append(emails, fmt.Sprintf("rep%d@example.com", i))
	}
	out := make([]stackdir.Credentials, len(emails))
	for i, email := range emails {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(email))
		out[i] = stackdir.Credentials{Email: email, Password: base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:24])}
	}
	return out
}
