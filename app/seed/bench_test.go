package seed

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crmplan/crmplan/app/migrations"
	"github.com/crmplan/crmplan/pgserver"
)

// benchRecords is CRM_SEED_BENCH_RECORDS, default 1M.
func benchRecords(b *testing.B) int64 {
	n := int64(1_000_000)
	if s := os.Getenv("CRM_SEED_BENCH_RECORDS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	return n
}

// durableServer is a server with the durability settings of production
// (fsync on), unlike StartTest's.
func durableServer(b *testing.B) *pgserver.Server {
	root, err := os.MkdirTemp("", "seed-bench-")
	if err != nil {
		b.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	b.Cleanup(func() { _ = os.RemoveAll(root) })
	ctx := context.Background()
	s, err := pgserver.Init(ctx, pgserver.Config{Dir: filepath.Join(root, "pg"), StopWithParent: true,
		Settings: map[string]string{"shared_buffers": "1GB", "max_wal_size": "8GB", "maintenance_work_mem": "512MB"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// BenchmarkSeedLoad measures crm seed's COPY phase (rows/s).
//
//	go test -run '^$' -bench SeedLoad -benchtime 1x ./app/seed
func BenchmarkSeedLoad(b *testing.B) {
	n := benchRecords(b)
	srv := durableServer(b)
	for i := 0; i < b.N; i++ {
		db := fmt.Sprintf("seed%d", i)
		if err := srv.CreateDatabase(context.Background(), db); err != nil {
			b.Fatal(err)
		}
		cfg := testCfg
		cfg.Records, cfg.Reps = n, 50
		res, err := Run(context.Background(), srv.URL(db), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.RowsPerSecond(), "rows/s")
		b.ReportMetric(res.Load.Seconds(), "load-s")
		b.ReportMetric(res.Indexes.Seconds(), "index-s")
	}
}

// BenchmarkPsqlCopy loads the same rows from CSV files with psql's \copy,
// with the same order and concurrency as crm seed: the practical limit
// seed is compared against. Writing the files is not timed.
//
//	go test -run '^$' -bench PsqlCopy -benchtime 1x ./app/seed
func BenchmarkPsqlCopy(b *testing.B) {
	n := benchRecords(b)
	srv := durableServer(b)
	cfg := testCfg
	cfg.Records, cfg.Reps = n, 50
	counts := split(n, cfg.Reps)
	g := newGen(cfg, counts)
	dir := b.TempDir()
	tables := []struct {
		name    string
		columns []string
		n       int64
		row     func(int64) []any
	}{
		{"users", userColumns, counts.Users, g.user(slices.Repeat([]string{"x"}, int(counts.Users)))},
		{"accounts", accountColumns, counts.Accounts, g.account()},
		{"contacts", contactColumns, counts.Contacts, g.contact()},
		{"opportunities", opportunityColumns, counts.Opportunities, g.opportunity()},
		{"leads", leadColumns, counts.Leads, g.lead()},
		{"activities", activityColumns, counts.Activities, g.activity()},
	}
	for _, t := range tables {
		if err := writeCSV(filepath.Join(dir, t.name+".csv"), t.n, t.row); err != nil {
			b.Fatal(err)
		}
	}
	psql := filepath.Join(pgserver.DefaultBin, "psql")
	for i := 0; i < b.N; i++ {
		db := fmt.Sprintf("copy%d", i)
		ctx := context.Background()
		if err := srv.CreateDatabase(ctx, db); err != nil {
			b.Fatal(err)
		}
		if _, err := migrations.UpTo(ctx, srv.URL(db), migrations.Schema, slog.New(slog.DiscardHandler)); err != nil {
			b.Fatal(err)
		}
		copyTable := func(j int) error {
			t := tables[j]
			cmd := fmt.Sprintf(`\copy %s (%s) FROM '%s' WITH (FORMAT csv)`, t.name, join(t.columns), filepath.Join(dir, t.name+".csv"))
			c := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", srv.URL(db), "-c", cmd)
			// As crm seed does: no per-row foreign-key triggers.
			c.Env = append(os.Environ(), "PGOPTIONS=-c session_replication_role=replica")
			out, err := c.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", t.name, err, out)
			}
			return nil
		}
		start := time.Now()
		for _, j := range []int{0, 1} {
			if err := copyTable(j); err != nil {
				b.Fatal(err)
			}
		}
		var eg errgroup.Group
		eg.SetLimit(2)
		for _, j := range []int{2, 3, 4} {
			eg.Go(func() error { return copyTable(j) })
		}
		if err := eg.Wait(); err != nil {
			b.Fatal(err)
		}
		if err := copyTable(5); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(counts.Records())/time.Since(start).Seconds(), "rows/s")
		b.ReportMetric(time.Since(start).Seconds(), "load-s")
	}
}

func join(cols []string) string {
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s
}

func writeCSV(path string, n int64, row func(int64) []any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	rec := []string{}
	for i := int64(1); i <= n; i++ {
		rec = rec[:0]
		for _, v := range row(i) {
			rec = append(rec, csvValue(v))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64)
	default:
		return fmt.Sprint(x)
	}
}
