package k6ext

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
)

// newRuntime gives a sobek runtime in a VU's context with the module's
// default export as the global "crm", as `import crm from "k6/x/crmplan"` would.
func newRuntime(t *testing.T, vuid uint64) *modulestest.Runtime {
	t.Helper()
	rt := modulestest.NewRuntime(t)
	inst := new(RootModule).NewModuleInstance(rt.VU)
	if err := rt.VU.RuntimeField.Set("crm", inst.Exports().Default); err != nil {
		t.Fatal(err)
	}
	rt.MoveToVUContext(&lib.State{VUIDGlobal: vuid, Tags: lib.NewVUStateTags(rt.VU.InitEnvField.Registry.RootTagSet())})
	return rt
}

func runJSON(t *testing.T, rt *modulestest.Runtime, code string, v any) {
	t.Helper()
	val, err := rt.RunOnEventLoop(code)
	if err != nil {
		t.Fatalf("%s: %v", code, err)
	}
	if err := json.Unmarshal([]byte(val.String()), v); err != nil {
		t.Fatalf("%s: %v (%s)", code, err, val.String())
	}
}

// TestMixFollowsWeights draws from the mix through JavaScript, as scripts do.
func TestMixFollowsWeights(t *testing.T) {
	rt := newRuntime(t, 1)
	weights := map[string]float64{"list": 0.35, "view": 0.35, "write": 0.15, "report": 0.05, "integration": 0.10}
	var counts map[string]float64
	runJSON(t, rt, `
		const mix = crm.newMix({list: 0.35, view: 0.35, write: 0.15, report: 0.05, integration: 0.10, never: 0});
		const counts = {};
		for (let i = 0; i < 20000; i++) { const c = mix.pick(); counts[c] = (counts[c] || 0) + 1; }
		JSON.stringify(counts)`, &counts)
	for class, w := range weights {
		share := counts[class] / 20000
		// 20,000 draws: the standard error of a 5 % share is 0.15 %.
		if math.Abs(share-w) > 0.01 {
			t.Errorf("%s: share %.3f, want %.2f", class, share, w)
		}
	}
	if counts["never"] != 0 {
		t.Errorf("a class with weight 0 was picked %g times", counts["never"])
	}
}

func TestNewMixRejects(t *testing.T) {
	rt := newRuntime(t, 1)
	for _, code := range []string{`crm.newMix({list: -1, view: 1})`, `crm.newMix({list: 0})`, `crm.newMix({})`} {
		if _, err := rt.RunOnEventLoop(code); err == nil {
			t.Errorf("%s: no error", code)
		}
	}
}

// TestKeysUniqueAcrossVUs: the write ledger needs every key once per run.
func TestKeysUniqueAcrossVUs(t *testing.T) {
	seen := map[string]bool{}
	for vu := uint64(1); vu <= 3; vu++ {
		rt := newRuntime(t, vu)
		var keys []string
		runJSON(t, rt, `JSON.stringify(Array.from({length: 500}, () => crm.key("r1")))`, &keys)
		for _, k := range keys {
			if seen[k] || !strings.HasPrefix(k, "lt-r1-") {
				t.Fatalf("key %q repeated or malformed", k)
			}
			seen[k] = true
		}
	}
}

func TestDataLooksReal(t *testing.T) {
	rt := newRuntime(t, 7)
	var got struct {
		Person  map[string]string
		Company map[string]string
		Amounts []int64
		CSV     string
		Terms   []string
	}
	runJSON(t, rt, `JSON.stringify({
		person: crm.person(), company: crm.company(),
		amounts: Array.from({length: 2000}, () => crm.amount()),
		csv: crm.contactsCSV(5, "r1"),
		terms: Array.from({length: 50}, () => crm.searchTerm()),
	})`, &got)
	email := regexp.MustCompile(`^[a-z]+\.[a-z]+[0-9]+@[a-z]+\.example$`)
	if !email.MatchString(got.Person["email"]) || got.Person["first_name"] == "" || got.Person["title"] == "" {
		t.Errorf("person = %v", got.Person)
	}
	if !strings.HasPrefix(got.Company["website"], "https://www.") || got.Company["industry"] == "" {
		t.Errorf("company = %v", got.Company)
	}
	below, above := 0, 0
	for _, a := range got.Amounts {
		if a < 500 || a > 2_000_000 || a%100 != 0 {
			t.Fatalf("amount %d outside 500..2,000,000 or not whole hundreds", a)
		}
		if a < 12000 {
			below++
		} else {
			above++
		}
	}
	// The median is about 12,000: roughly half on each side.
	if below < 800 || above < 800 {
		t.Errorf("amounts skewed: %d below 12,000, %d above", below, above)
	}
	lines := strings.Split(strings.TrimSpace(got.CSV), "\n")
	if len(lines) != 6 || lines[0] != "first_name,last_name,email,phone,title" || !strings.Contains(lines[1], "@ledger.example") {
		t.Errorf("csv = %q", got.CSV)
	}
	for _, term := range got.Terms {
		if len(term) < 3 {
			t.Errorf("search term %q shorter than 3 letters", term)
		}
	}
}
