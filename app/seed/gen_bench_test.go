package seed

// Generation alone, without PostgreSQL: go test -run "^$" -bench Gen -benchmem ./app/seed

import "testing"

func BenchmarkGenContacts(b *testing.B) {
	cfg := testCfg
	g := newGen(cfg, split(1_000_000, 50))
	row := g.contact()
	for i := 0; i < b.N; i++ {
		_ = row(int64(i + 1))
	}
}
func BenchmarkGenActivities(b *testing.B) {
	g := newGen(testCfg, split(1_000_000, 50))
	row := g.activity()
	for i := 0; i < b.N; i++ {
		_ = row(int64(i + 1))
	}
}
