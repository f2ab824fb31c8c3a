package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/migrations"
	"github.com/crmplan/crmplan/pgserver"
)

func openStore(t testing.TB, primary, replica *pgserver.Server) *Store {
	t.Helper()
	ctx := context.Background()
	if _, err := migrations.UpTo(ctx, primary.URL("postgres"), migrations.Latest, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DatabaseURL: primary.URL("postgres")}
	if replica != nil {
		cfg.ReplicaURL = replica.URL("postgres")
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustUser(t testing.TB, s *Store, email string, role app.Role, manager *int64) *app.Principal {
	t.Helper()
	u, err := s.CreateUser(context.Background(), NewUser{Email: email, Name: email, Role: role, ManagerID: manager, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateSession(context.Background(), u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.SessionPrincipal(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func create(t *testing.T, s *Store, resource, body string) int64 {
	t.Helper()
	r, _ := app.ResourceNamed(resource)
	c, err := r.DecodeCreate([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	// The record's owner makes it (the stage history names who).
	owner, _ := c.Get("owner_id")
	b, err := s.Create(context.Background(), &app.Principal{User: app.User{ID: owner.(int64)}}, r, c)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ ID int64 }
	_ = json.Unmarshal(b, &rec)
	return rec.ID
}

func list(t *testing.T, s *Store, p *app.Principal, resource, query string) Page {
	t.Helper()
	r, _ := app.ResourceNamed(resource)
	v, _ := url.ParseQuery(query)
	q, err := r.ParseList(v)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.List(context.Background(), p, r, q)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func names(p Page, key string) string {
	var out []string
	for _, it := range p.Items {
		var m map[string]any
		_ = json.Unmarshal(it, &m)
		out = append(out, fmt.Sprint(m[key]))
	}
	return strings.Join(out, ",")
}

func TestRecordsVisibilityPagingSearch(t *testing.T) {
	s := openStore(t, pgserver.StartTest(t), nil)
	ctx := context.Background()
	admin := mustUser(t, s, "admin@example.com", app.RoleAdmin, nil)
	mgr := mustUser(t, s, "manager@example.com", app.RoleManager, nil)
	rep1 := mustUser(t, s, "rep1@example.com", app.RoleRep, &mgr.User.ID)
	rep2 := mustUser(t, s, "rep2@example.com", app.RoleRep, nil)
	mgr = mustUser(t, s, "manager2@example.com", app.RoleManager, nil) // a manager without a team
	_ = mgr
	mgr1, err := s.PrincipalByID(ctx, rep1.User.ManagerID)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"Delta", "Alpha", "Echo", "Bravo", "Charlie"} {
		create(t, s, "accounts", fmt.Sprintf(`{"name":"%s Corp","owner_id":%d,"city":"City%d"}`, n, rep1.User.ID, i))
	}
	other := create(t, s, "accounts", fmt.Sprintf(`{"name":"Zulu Corp","owner_id":%d}`, rep2.User.ID))

	if got := names(list(t, s, rep1, "accounts", "sort=name"), "name"); got != "Alpha Corp,Bravo Corp,Charlie Corp,Delta Corp,Echo Corp" {
		t.Errorf("rep1 sees %s", got)
	}
	if got := len(list(t, s, admin, "accounts", "").Items); got != 6 {
		t.Errorf("admin sees %d accounts, want 6", got)
	}
	if got := len(list(t, s, mgr1, "accounts", "").Items); got != 5 {
		t.Errorf("rep1's manager sees %d accounts, want 5", got)
	}
	// Keyset paging walks every row once, in both directions.
	for _, sort := range []string{"name", "-name", "updated", "-updated"} {
		var seen []string
		q := "limit=2&sort=" + sort
		for i := 0; i < 10; i++ {
			p := list(t, s, admin, "accounts", q)
			seen = append(seen, names(p, "name"))
			if p.Next == "" {
				break
			}
			q = "limit=2&sort=" + sort + "&after=" + p.Next
		}
		if all := strings.Join(seen, ","); strings.Count(all, "Corp") != 6 {
			t.Errorf("sort %s paged %q", sort, all)
		}
	}
	if got := names(list(t, s, admin, "accounts", "q=char"), "name"); got != "Charlie Corp" {
		t.Errorf("search char: %q", got)
	}
	if got := names(list(t, s, admin, "accounts", "q=city3+corp"), "name"); got != "Bravo Corp" {
		t.Errorf("search city3 corp: %q", got)
	}
	r, _ := app.ResourceNamed("accounts")
	if _, err := s.Get(ctx, rep1, r, other); app.ErrorCode(err) != app.ENOTFOUND {
		t.Errorf("rep1 reads rep2's account: %v", err)
	}
	c, _ := r.DecodePatch([]byte(`{"name":"Mine now"}`))
	if _, err := s.Update(ctx, rep1, r, other, c); app.ErrorCode(err) != app.ENOTFOUND {
		t.Errorf("rep1 updates rep2's account: %v", err)
	}
	if err := s.Delete(ctx, rep1, r, other); app.ErrorCode(err) != app.ENOTFOUND {
		t.Errorf("rep1 deletes rep2's account: %v", err)
	}
	if b, err := s.Update(ctx, rep2, r, other, c); err != nil || !strings.Contains(string(b), "Mine now") {
		t.Errorf("owner update: %s, %v", b, err)
	}
}

func TestAccountDetailAndErrors(t *testing.T) {
	s := openStore(t, pgserver.StartTest(t), nil)
	ctx := context.Background()
	admin := mustUser(t, s, "admin@example.com", app.RoleAdmin, nil)
	acc := create(t, s, "accounts", fmt.Sprintf(`{"name":"Acme","owner_id":%d}`, admin.User.ID))
	create(t, s, "contacts", fmt.Sprintf(`{"first_name":"Ann","last_name":"Lee","account_id":%d,"owner_id":%d}`, acc, admin.User.ID))
	create(t, s, "opportunities", fmt.Sprintf(`{"name":"Big deal","amount":1200.5,"stage":"proposal","account_id":%d,"owner_id":%d}`, acc, admin.User.ID))
	r, _ := app.ResourceNamed("accounts")
	b, err := s.Get(ctx, admin, r, acc)
	if err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Contacts, Opportunities, Activities []map[string]any
	}
	if err := json.Unmarshal(b, &detail); err != nil || len(detail.Contacts) != 1 || len(detail.Opportunities) != 1 || detail.Activities == nil {
		t.Errorf("detail %s, %v", b, err)
	}
	contacts, _ := app.ResourceNamed("contacts")
	c, _ := contacts.DecodeCreate([]byte(fmt.Sprintf(`{"first_name":"A","last_name":"B","account_id":999999,"owner_id":%d}`, admin.User.ID)))
	_, err = s.Create(ctx, admin, contacts, c)
	if e, ok := err.(*app.Error); !ok || e.Code != app.EINVALID || e.Field != "account_id" {
		t.Errorf("dangling account_id: %#v", err)
	}
	if _, err := s.CreateUser(ctx, NewUser{Email: "ADMIN@example.com", Name: "x", Role: app.RoleRep, PasswordHash: "x"}); app.ErrorCode(err) != app.ECONFLICT {
		t.Errorf("duplicate e-mail: %v", err)
	}
	rep, err := s.PipelineReport(ctx, admin, 0)
	if err != nil || len(rep.Stages) != len(app.Stages) || rep.Stages[2].Stage != "proposal" || rep.Stages[2].Amount != 1200.5 {
		t.Errorf("pipeline %+v, %v", rep, err)
	}
	// The trigger-kept totals follow inserts, moves between stages and
	// owners, amount changes and deletes, including cascades.
	opps, _ := app.ResourceNamed("opportunities")
	other := mustUser(t, s, "other@example.com", app.RoleRep, nil)
	ids := []int64{}
	for i := range 6 {
		ids = append(ids, create(t, s, "opportunities", fmt.Sprintf(`{"name":"D%d","amount":%d,"stage":"%s","account_id":%d,"owner_id":%d}`, i, 100*(i+1), app.Stages[i], acc, admin.User.ID)))
	}
	for i, patch := range []string{`{"stage":"closed_won"}`, fmt.Sprintf(`{"owner_id":%d,"amount":7}`, other.User.ID), `{"amount":0}`} {
		c, _ := opps.DecodePatch([]byte(patch))
		if _, err := s.Update(ctx, admin, opps, ids[i], c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, admin, opps, ids[3]); err != nil {
		t.Fatal(err)
	}
	checkTotals := func(when string) {
		t.Helper()
		var bad int
		err := s.pri().QueryRow(ctx, `SELECT count(*) FROM (SELECT owner_id, stage, count(*) AS count, sum(amount) AS amount FROM opportunities GROUP BY 1, 2) o
			FULL JOIN (SELECT * FROM pipeline_totals WHERE count <> 0) p USING (owner_id, stage)
			WHERE o.count IS DISTINCT FROM p.count OR o.amount IS DISTINCT FROM p.amount`).Scan(&bad)
		if err != nil || bad != 0 {
			t.Errorf("%s: %d pipeline totals differ from the opportunities (%v)", when, bad, err)
		}
	}
	checkTotals("after updates")
	if err := s.Delete(ctx, admin, r, acc); err != nil {
		t.Fatal(err)
	}
	checkTotals("after cascading delete")
	if _, err := s.SessionPrincipal(ctx, "forged"); app.ErrorCode(err) != app.EUNAUTHORIZED {
		t.Errorf("forged session: %v", err)
	}
}

// TestReadYourWrites uses real streaming replication: a write is read back
// at once through the LSN it recorded, and lists go to the replica once it
// has replayed.
func TestReadYourWrites(t *testing.T) {
	primary, replica := pgserver.StartTestPair(t)
	s := openStore(t, primary, replica)
	ctx := context.Background()
	admin := mustUser(t, s, "admin@example.com", app.RoleAdmin, nil)
	deadline := time.Now().Add(10 * time.Second)
	for s.replayed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.replayed.Load() == 0 {
		t.Fatal("replica position never known")
	}
	r, _ := app.ResourceNamed("accounts")
	q, _ := r.ParseList(url.Values{})
	for i := 0; i < 20; i++ {
		wctx := LSNRecorder(ctx)
		c, _ := r.DecodeCreate([]byte(fmt.Sprintf(`{"name":"A%d","owner_id":%d}`, i, admin.User.ID)))
		if _, err := s.Create(wctx, admin, r, c); err != nil {
			t.Fatal(err)
		}
		lsn := WroteLSN(wctx)
		if lsn == 0 {
			t.Fatal("write recorded no LSN")
		}
		page, err := s.List(AfterLSN(ctx, lsn), admin, r, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != i+1 {
			t.Fatalf("after write %d the list has %d items: read-your-writes broken", i+1, len(page.Items))
		}
	}
	if err := primary.WaitReplayed(ctx, replica); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if s.reader(AfterLSN(ctx, WroteLSN(ctx))) != s.cur.Load().replica {
		t.Error("a caught-up replica is not used for reads")
	}
	if s.reader(AfterLSN(ctx, 1<<62)) != s.pri() {
		t.Error("a read after an unreplayed write goes to the replica")
	}
}

func TestReadyNeedsMigrations(t *testing.T) {
	pg := pgserver.StartTest(t)
	s, err := Open(context.Background(), Config{DatabaseURL: pg.URL("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Ready(context.Background())
	if app.ErrorCode(err) != app.EUNAVAILABLE || !strings.Contains(err.Error(), "crm migrate") {
		t.Errorf("Ready on an empty database: %v", err)
	}
	if _, err := Open(context.Background(), Config{DatabaseURL: "postgres://u:secret@[::1"}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL error %v leaks the password or is missing", err)
	}
}

// TestListsNameTheAccount: rows that belong to an account carry its name in
// lists (the pipeline board shows it), rows without one carry null.
func TestListsNameTheAccount(t *testing.T) {
	s := openStore(t, pgserver.StartTest(t), nil)
	admin := mustUser(t, s, "admin@example.com", app.RoleAdmin, nil)
	acc := create(t, s, "accounts", fmt.Sprintf(`{"name":"Acme Tools","owner_id":%d}`, admin.User.ID))
	create(t, s, "opportunities", fmt.Sprintf(`{"name":"Big deal","amount":10,"stage":"proposal","account_id":%d,"owner_id":%d}`, acc, admin.User.ID))
	create(t, s, "contacts", fmt.Sprintf(`{"first_name":"Ann","last_name":"Lee","account_id":%d,"owner_id":%d}`, acc, admin.User.ID))
	create(t, s, "contacts", fmt.Sprintf(`{"first_name":"Bo","last_name":"Free","owner_id":%d}`, admin.User.ID))
	tests := []struct {
		resource string
		want     map[string]any // record name -> account_name
	}{
		{"opportunities", map[string]any{"Big deal": "Acme Tools"}},
		{"contacts", map[string]any{"Lee": "Acme Tools", "Free": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			r, _ := app.ResourceNamed(tt.resource)
			page, err := s.List(context.Background(), admin, r, app.ListQuery{Limit: 10, Sort: "name"})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			for _, item := range page.Items {
				var row map[string]any
				if err := json.Unmarshal(item, &row); err != nil {
					t.Fatal(err)
				}
				name, _ := row["name"].(string)
				if name == "" {
					name, _ = row["last_name"].(string)
				}
				an, ok := row["account_name"]
				if !ok {
					t.Errorf("%s has no account_name: %s", name, item)
				}
				got[name] = an
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("account names = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestListFields: ?fields= gives each item those keys only, with the
// values the whole record has, and looks the account up only when
// account_name is among them (the plan is checked: no accounts scan).
func TestListFields(t *testing.T) {
	s := openStore(t, pgserver.StartTest(t), nil)
	ctx := context.Background()
	admin := mustUser(t, s, "admin@example.com", app.RoleAdmin, nil)
	acc := create(t, s, "accounts", fmt.Sprintf(`{"name":"Acme Tools","owner_id":%d}`, admin.User.ID))
	create(t, s, "contacts", fmt.Sprintf(`{"first_name":"Ann","last_name":"Lee","email":"ann@acme.example","account_id":%d,"owner_id":%d}`, acc, admin.User.ID))
	create(t, s, "opportunities", fmt.Sprintf(`{"name":"Big deal","amount":10.5,"stage":"proposal","close_date":"2027-01-31","account_id":%d,"owner_id":%d}`, acc, admin.User.ID))
	for _, tt := range []struct {
		resource, fields string
		lookup           bool
	}{
		{"contacts", "id,email,first_name,last_name", false},
		{"contacts", "last_name,account_name", true},
		{"opportunities", "amount,close_date,updated_at,id,amount", false},
	} {
		t.Run(tt.resource+" "+tt.fields, func(t *testing.T) {
			whole := list(t, s, admin, tt.resource, "")
			narrow := list(t, s, admin, tt.resource, "fields="+tt.fields)
			if len(whole.Items) != 1 || len(narrow.Items) != 1 {
				t.Fatalf("%d and %d items, want 1", len(whole.Items), len(narrow.Items))
			}
			var all, got map[string]any
			_ = json.Unmarshal(whole.Items[0], &all)
			_ = json.Unmarshal(narrow.Items[0], &got)
			want := map[string]any{}
			for f := range strings.SplitSeq(tt.fields, ",") {
				want[f] = all[f]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("item %s, want %v", narrow.Items[0], want)
			}
			r, _ := app.ResourceNamed(tt.resource)
			v, _ := url.ParseQuery("fields=" + tt.fields)
			q, err := r.ParseList(v)
			if err != nil {
				t.Fatal(err)
			}
			st := listSQL(admin, r, q, 0, false)
			plan := strings.Join(explain(t, s.pri(), st.sql, st.args...), " / ")
			if strings.Contains(plan, "on accounts") != tt.lookup {
				t.Errorf("plan %s: account lookup %v, want %v", plan, !tt.lookup, tt.lookup)
			}
		})
	}
	// Fields are checked against the resource's own keys: the SQL names
	// them.
	r, _ := app.ResourceNamed("contacts")
	for _, bad := range []string{"search", "name", "id) FROM users --", ""} {
		if _, err := r.ParseList(url.Values{"fields": {bad}}); app.ErrorCode(err) != app.EINVALID {
			t.Errorf("fields=%q: %v, want invalid", bad, err)
		}
	}
	if _, err := s.List(ctx, admin, r, app.ListQuery{Limit: 1, Sort: "id", Fields: []string{"1); DROP TABLE contacts; --"}}); app.ErrorCode(err) != app.EINVALID {
		t.Errorf("a field not of the resource, past ParseList: %v, want invalid", err)
	}
}

// TestSetMaxConns: the pools change size while a transaction runs on the
// old ones; it commits, new work takes the new pools, and the old pools
// close once it is done.
func TestSetMaxConns(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, pgserver.StartTest(t), nil)
	s.grace = 0
	old := s.pri()
	tx, err := old.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMaxConns(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := s.MaxConns(); got != 3 {
		t.Errorf("MaxConns after SetMaxConns(3) = %d", got)
	}
	if got := s.Pools()["primary"].Stat().MaxConns(); got != 3 || s.pri() == old {
		t.Errorf("the primary's pool after SetMaxConns(3): max %d, replaced %v", got, s.pri() != old)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE resize_probe (i int)"); err != nil {
		t.Fatalf("the transaction begun before the resize: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit after the resize: %v", err)
	}
	var n int
	if err := s.pri().QueryRow(ctx, "SELECT count(*) FROM resize_probe").Scan(&n); err != nil {
		t.Fatalf("the new pool: %v", err)
	}
	waitConns(old, 10*time.Second, func(n int32) bool { return n == 0 })
	if _, err := old.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("the old pool still serves after its grace: it was not closed")
	}
	before := s.pri()
	if err := s.SetMaxConns(ctx, 3); err != nil || s.pri() != before {
		t.Errorf("SetMaxConns to the same size replaced the pools (err %v)", err)
	}
}

// TestWarmConns: a server's pools open their warm connections when it
// starts, before any query (at most the pool's size); a resize's new
// pools open theirs on demand, beside the old pools that still hold
// connections.
func TestWarmConns(t *testing.T) {
	ctx := context.Background()
	pg := pgserver.StartTest(t)
	// settle waits for the pool to reach want and then checks that it
	// stays there (no more are opened).
	settle := func(t *testing.T, s *Store, want int32) {
		t.Helper()
		waitConns(s.pri(), 10*time.Second, func(n int32) bool { return n >= want })
		time.Sleep(300 * time.Millisecond)
		if got := s.pri().Stat().TotalConns(); got != want {
			t.Errorf("the primary's pool holds %d connections, want %d", got, want)
		}
	}
	for _, c := range []struct {
		name     string
		maxConns int32
		want     int32
	}{
		{"default pool", 0, warmConns},
		{"pool smaller than warmConns", 2, 2},
		{"pool of one", 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(ctx, Config{DatabaseURL: pg.URL("postgres"), MaxConns: c.maxConns})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			settle(t, s, c.want)
		})
	}
	t.Run("resize", func(t *testing.T) {
		s, err := Open(ctx, Config{DatabaseURL: pg.URL("postgres")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		settle(t, s, warmConns)
		old := s.pri()
		if err := s.SetMaxConns(ctx, 8); err != nil {
			t.Fatal(err)
		}
		settle(t, s, 0)
		// The old pool, open for its minute's grace, holds none either.
		waitConns(old, 5*time.Second, func(n int32) bool { return n == 0 })
		if got := old.Stat().TotalConns(); got != 0 {
			t.Errorf("the pool a resize replaced still holds %d idle connections", got)
		}
	})
}

// waitConns waits up to within for pool's connection count to satisfy
// done.
func waitConns(pool *pgxpool.Pool, within time.Duration, done func(total int32) bool) {
	deadline := time.Now().Add(within)
	for !done(pool.Stat().TotalConns()) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}
