package seed

import (
	"context"
	"fmt"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// rowsPerTick is how many rows a COPY counts before it adds them to the
// shared counter: one atomic add per row would be the hottest line of the
// load.
const rowsPerTick = 1024

// ticker writes a progress line every Config.ProgressEvery until stopped.
type ticker struct {
	stop chan struct{}
	done sync.WaitGroup
}

// every calls line every d until stop; nil w or a zero d reports nothing.
func every(w io.Writer, d time.Duration, line func() string) *ticker {
	t := &ticker{stop: make(chan struct{})}
	if w == nil || d <= 0 {
		return t
	}
	t.done.Add(1)
	go func() {
		defer t.done.Done()
		tk := time.NewTicker(d)
		defer tk.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tk.C:
				if s := line(); s != "" {
					fmt.Fprintln(w, s)
				}
			}
		}
	}()
	return t
}

func (t *ticker) Stop() {
	close(t.stop)
	t.done.Wait()
}

// loadLine says how far the COPY phase is: rows, rate, and the time left
// at that rate. The rows are counted as they are sent: PostgreSQL may still
// be writing the last ones (on a busy machine, for minutes at the end of
// each table), which the line says once every row is sent.
func loadLine(done, total int64, took time.Duration) string {
	if done >= total {
		return fmt.Sprintf("seed: all %s rows sent in %s; PostgreSQL is writing the last of them", thousands(total), took.Round(time.Second))
	}
	pct := 100 * float64(done) / float64(max(total, 1))
	rate := float64(done) / max(took.Seconds(), 1e-3)
	eta := "unknown"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("seed: rows %s of %s (%.1f %%), %s rows/s, ETA %s", thousands(done), thousands(total), pct, thousands(int64(rate)), eta)
}

// thousands writes n with comma separators: 25,000,000.
func thousands(n int64) string { return message.NewPrinter(language.English).Sprintf("%d", n) }

// indexProgress reads which CREATE INDEX runs now and how far it is, from
// pg_stat_progress_create_index joined to the statement (a non-concurrent
// build has no index oid yet, but its statement names it).
const indexProgress = `SELECT a.query, p.phase,
	CASE WHEN p.blocks_total > 0 THEN 100.0 * p.blocks_done / p.blocks_total
	     WHEN p.tuples_total > 0 THEN 100.0 * p.tuples_done / p.tuples_total ELSE -1 END
	FROM pg_stat_progress_create_index p JOIN pg_stat_activity a ON a.pid = p.pid
	WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())`

// indexWatch reports, at every tick, the indexes being built (two at a
// time: app/migrations' indexes.go), each with its phase and share done.
type indexWatch struct {
	pool  *pgxpool.Pool
	start time.Time
}

func (iw *indexWatch) line() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := iw.pool.Query(ctx, indexProgress)
	if err != nil {
		return "" // the statistics are not readable
	}
	defer rows.Close()
	var builds []string
	for rows.Next() {
		var query, phase string
		var pct float64
		if err := rows.Scan(&query, &phase, &pct); err != nil {
			return ""
		}
		done := ""
		if pct >= 0 {
			done = fmt.Sprintf(", %.0f %%", pct)
		}
		builds = append(builds, fmt.Sprintf("%s: %s%s", indexName(query), phase, done))
	}
	if rows.Err() != nil || len(builds) == 0 {
		return "" // between two builds
	}
	sort.Strings(builds) // the same build on the same side from one line to the next
	return fmt.Sprintf("seed: index %s (indexes %s so far)", strings.Join(builds, "; index "), time.Since(iw.start).Round(time.Second))
}

// indexName reads "contacts_name ON contacts (last_name, id)" out of a
// CREATE INDEX [IF NOT EXISTS] statement; anything else is returned as it is, shortened.
func indexName(query string) string {
	q := strings.Join(strings.Fields(query), " ")
	if i := strings.Index(strings.ToUpper(q), "CREATE INDEX "); i >= 0 {
		q = q[i+len("CREATE INDEX "):]
		if strings.HasPrefix(strings.ToUpper(q), "IF NOT EXISTS ") {
			q = q[len("IF NOT EXISTS "):]
		}
		if j := strings.IndexByte(q, ';'); j >= 0 {
			q = q[:j]
		}
	}
	if len(q) > 80 {
		q = q[:77] + "..."
	}
	return q
}

// counter adds a COPY's rows to total every rowsPerTick rows.
type counter struct {
	total *atomic.Int64
	n     int64
}

func (c *counter) row() {
	if c.total == nil {
		return
	}
	if c.n++; c.n == rowsPerTick {
		c.total.Add(c.n)
		c.n = 0
	}
}

func (c *counter) flush() {
	if c.total != nil {
		c.total.Add(c.n)
		c.n = 0
	}
}
