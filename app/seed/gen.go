package seed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

var (
	userColumns        = []string{"id", "email", "name", "role", "manager_id", "password_hash", "created_at", "updated_at"}
	accountColumns     = []string{"id", "owner_id", "name", "industry", "website", "phone", "city", "country", "created_at", "updated_at"}
	contactColumns     = []string{"id", "owner_id", "account_id", "first_name", "last_name", "email", "phone", "title", "created_at", "updated_at"}
	leadColumns        = []string{"id", "owner_id", "first_name", "last_name", "company", "email", "phone", "status", "source", "created_at", "updated_at"}
	opportunityColumns = []string{"id", "owner_id", "account_id", "name", "stage", "amount", "probability", "close_date", "created_at", "updated_at"}
	activityColumns    = []string{"id", "owner_id", "kind", "subject", "notes", "due_at", "done", "account_id", "contact_id", "opportunity_id", "created_at", "updated_at"}
)

// gen makes rows. Each table has its own random stream, derived from the
// seed and the table, so tables can be loaded concurrently and still come
// out the same every time.
type gen struct {
	cfg Config
	n   Counts
	// e-mail and web forms of the names, folded once: folding per row
	// made generation the slowest part of seeding.
	firstASCII, lastASCII, headASCII []string
}

func newGen(cfg Config, n Counts) *gen {
	fold := func(list []string) []string {
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = ascii(s)
		}
		return out
	}
	return &gen{cfg: cfg, n: n, firstASCII: fold(firstNames), lastASCII: fold(lastNames), headASCII: fold(companyHeads)}
}

func (g *gen) rng(table uint64) *rand.Rand { return rand.New(rand.NewPCG(g.cfg.Seed, table)) }

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// owner is a random rep; the manager owns a few records too.
func (g *gen) owner(r *rand.Rand) int64 {
	if r.IntN(20) == 0 {
		return 2
	}
	return 3 + r.Int64N(g.n.Users-2)
}

// times returns a creation time in the two years before Now and a later
// update time.
func (g *gen) times(r *rand.Rand) (time.Time, time.Time) {
	span := 2 * 365 * 24 * time.Hour
	created := g.cfg.Now.Add(-time.Duration(r.Int64N(int64(span))))
	updated := created.Add(time.Duration(r.Int64N(int64(g.cfg.Now.Sub(created)) + 1)))
	return created, updated
}

func phone(r *rand.Rand) string {
	n := strconv.Itoa(10_000_000 + r.IntN(10_000_000))[1:] // 7 digits, leading zeros kept
	return "+" + strconv.Itoa(1+r.IntN(98)) + " " + strconv.Itoa(10+r.IntN(89)) + " " + n
}

// ascii folds a name into an e-mail local part.
func ascii(s string) string {
	s = strings.NewReplacer("ü", "ue", "ö", "oe", "ä", "ae", "ã", "a", "é", "e").Replace(strings.ToLower(s))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, s)
}

// user makes the users' rows; hashes[i-1] is the password hash of user i
// (in Emails order).
func (g *gen) user(hashes []string) func(i int64) []any {
	emails := Emails(g.cfg.Reps)
	return func(i int64) []any {
		now := g.cfg.Now
		email, hash := emails[i-1], hashes[i-1]
		switch i {
		case 1:
			return []any{i, email, "Ada Admin", "admin", nil, hash, now, now}
		case 2:
			return []any{i, email, "Max Manager", "manager", nil, hash, now, now}
		}
		rep := i - 2
		name := fmt.Sprintf("%s %s", firstNames[int(rep)%len(firstNames)], lastNames[int(rep/int64(len(firstNames)))%len(lastNames)])
		return []any{i, email, name, "rep", int64(2), hash, now, now}
	}
}

func company(r *rand.Rand) string {
	name, _ := companyIndex(r)
	return name
}

// companyIndex returns a company name and the index of its first word.
func companyIndex(r *rand.Rand) (string, int) {
	h := r.IntN(len(companyHeads))
	return companyHeads[h] + " " + pick(r, companyTails) + " " + pick(r, legalForms), h
}

func (g *gen) account() func(i int64) []any {
	r := g.rng(1)
	return func(i int64) []any {
		name, head := companyIndex(r)
		city := pick(r, cities)
		c, u := g.times(r)
		site := "https://www." + g.headASCII[head] + strconv.FormatInt(i%1000, 10) + ".example"
		return []any{i, g.owner(r), name, pick(r, industries), site, phone(r), city[0], city[1], c, u}
	}
}

func (g *gen) person(r *rand.Rand, i int64) (first, last, email string) {
	f, l := r.IntN(len(firstNames)), r.IntN(len(lastNames))
	return firstNames[f], lastNames[l], g.firstASCII[f] + "." + g.lastASCII[l] + strconv.FormatInt(i%10000, 10) + "@example.com"
}

func (g *gen) contact() func(i int64) []any {
	r := g.rng(2)
	return func(i int64) []any {
		first, last, email := g.person(r, i)
		c, u := g.times(r)
		return []any{i, g.owner(r), 1 + r.Int64N(g.n.Accounts), first, last, email, phone(r), pick(r, titles), c, u}
	}
}

func (g *gen) lead() func(i int64) []any {
	r := g.rng(3)
	return func(i int64) []any {
		first, last, email := g.person(r, i)
		c, u := g.times(r)
		return []any{i, g.owner(r), first, last, company(r), email, phone(r), pick(r, leadStatuses), pick(r, leadSources), c, u}
	}
}

var stageProbability = []int32{10, 25, 50, 75, 100, 0}

func (g *gen) stage(r *rand.Rand) int {
	n := r.IntN(100)
	for i, w := range stageWeights {
		if n < w {
			return i
		}
		n -= w
	}
	return 0
}

func (g *gen) opportunity() func(i int64) []any {
	r := g.rng(4)
	return func(i int64) []any {
		s := g.stage(r)
		// Deal sizes are roughly log-normal: many small, a few large.
		amount := math.Round(math.Min(math.Exp(9.5+r.NormFloat64()), 1e7)*100) / 100
		c, u := g.times(r)
		closeDate := c.Add(time.Duration(30+r.IntN(150)) * 24 * time.Hour).Truncate(24 * time.Hour)
		name := pick(r, dealWords) + " " + fmt.Sprint(c.Year())
		return []any{i, g.owner(r), 1 + r.Int64N(g.n.Accounts), name, stageNames[s], amount, stageProbability[s], closeDate, c, u}
	}
}

func (g *gen) activity() func(i int64) []any {
	r := g.rng(5)
	return func(i int64) []any {
		kind := pick(r, kinds)
		c, u := g.times(r)
		var due, contact, opp, notes any
		done := r.IntN(3) > 0
		if kind == "task" {
			due = c.Add(time.Duration(1+r.IntN(14)) * 24 * time.Hour)
		} else {
			done = true
		}
		if g.n.Contacts > 0 && r.IntN(2) == 0 {
			contact = 1 + r.Int64N(g.n.Contacts)
		}
		if g.n.Opportunities > 0 && r.IntN(3) == 0 {
			opp = 1 + r.Int64N(g.n.Opportunities)
		}
		if r.IntN(4) == 0 {
			notes = pick(r, subjects["note"])
		}
		return []any{i, g.owner(r), kind, pick(r, subjects[kind]), notes, due, done, 1 + r.Int64N(g.n.Accounts), contact, opp, c, u}
	}
}
