package seed

import (
	"os"
	"strconv"
	"testing"

	"github.com/crmplan/crmplan/app/secret"
)

func TestUserPasswordDistinct(t *testing.T) {
	key := []byte("a key of sixteen+")
	seen := map[string]string{}
	for _, email := range Emails(500) {
		pw := UserPassword(key, email)
		if len(pw) != 32 {
			t.Fatalf("%s: password %d characters, want 32", email, len(pw))
		}
		if other, ok := seen[pw]; ok {
			t.Fatalf("%s and %s share a password", email, other)
		}
		seen[pw] = email
	}
	if UserPassword([]byte("another key 1234"), "admin@example.com") == UserPassword(key, "admin@example.com") {
		t.Error("two keys give admin the same password")
	}
}

// BenchmarkHashPasswords measures what every user having their own
// password costs crm seed: one argon2id hash (default costs) per user, on
// every core, for seed 000's 3000 reps (CRM_SEED_BENCH_REPS others):
//
//	go test ./app/seed -run '^$' -bench HashPasswords -benchtime 1x
func BenchmarkHashPasswords(b *testing.B) {
	reps := 3000
	if s := os.Getenv("CRM_SEED_BENCH_REPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("CRM_SEED_BENCH_REPS=%q: want a count", s)
		}
		reps = n
	}
	cfg := Config{Reps: reps, PasswordKey: []byte("bench password key"), Hash: secret.DefaultParams}
	for b.Loop() {
		hashes, err := hashPasswords(b.Context(), cfg)
		if err != nil || len(hashes) != reps+2 {
			b.Fatalf("%d hashes, %v", len(hashes), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(reps+2), "ms/user")
}
