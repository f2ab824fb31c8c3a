// Package k6ext is the k6 JavaScript extension module "k6/x/crmplan": it gives
// load-test scripts realistic CRM data (people, companies, e-mail addresses,
// deal amounts), unique keys for the write ledger and the weighted request mix
// the sizing model assumed.
//
// It is built the way xk6 builds extensions: importing the package registers
// the module with k6, so the crmplan binary (which embeds k6) and a plain k6
// built with xk6 both offer it to scripts as `import crm from "k6/x/crmplan"`.
// xk6 takes extensions by module path, so the small module in xk6/ stands in
// for this package; from the repository root (checked with xk6 v0.20.1):
//
//	xk6 build v1.8.1 \
//	    --with github.com/crmplan/crmplan/loadgen/k6ext/xk6=$PWD/loadgen/k6ext/xk6 \
//	    --replace github.com/crmplan/crmplan=$PWD
//
// Both paths must be absolute. `crmplan verify` runs such a k6 instead of its
// own when CRMPLAN_K6 names it. The package imports nothing of crmplan's, so
// that build compiles k6 and this code only.
package k6ext

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"go.k6.io/k6/js/modules"
)

// ImportPath is the name scripts import.
const ImportPath = "k6/x/crmplan"

// init registers the module. Registration by import is k6's extension
// contract (xk6 generates exactly such an import), not a choice of ours.
func init() {
	modules.Register(ImportPath, new(RootModule))
}

// RootModule creates one Module per VU.
type RootModule struct{}

var (
	_ modules.Module   = (*RootModule)(nil)
	_ modules.Instance = (*Module)(nil)
)

// NewModuleInstance is called once per VU that imports the module.
func (*RootModule) NewModuleInstance(vu modules.VU) modules.Instance {
	return &Module{vu: vu}
}

// Module is one VU's view of the extension. Its methods are what scripts call
// (k6 maps Go method names to lower camel case: Person -> person).
type Module struct {
	vu  modules.VU
	rng *rand.Rand
	seq uint64 // keys issued by this VU
}

// Exports makes the Module itself the default export.
func (m *Module) Exports() modules.Exports {
	return modules.Exports{Default: m}
}

// rand returns the VU's generator, seeded from its global VU id so that two
// VUs do not produce the same people in lockstep.
func (m *Module) rand() *rand.Rand {
	if m.rng == nil {
		var vuid uint64
		if st := m.vu.State(); st != nil {
			vuid = st.VUIDGlobal
		}
		m.rng = rand.New(rand.NewPCG(0x63726d706c616e, vuid))
	}
	return m.rng
}

// Key returns a key unique across the VUs of one run, for the write ledger:
// every record a write creates carries one, so the records a load test
// created can be told apart from the seeded ones and counted afterwards.
func (m *Module) Key(run string) string {
	m.seq++
	var vuid uint64
	if st := m.vu.State(); st != nil {
		vuid = st.VUIDGlobal
	}
	return fmt.Sprintf("lt-%s-%d-%d", run, vuid, m.seq)
}

// Mix picks request classes with the weights the sizing model used.
type Mix struct {
	m       *Module
	classes []string
	cum     []float64 // cumulative weights, last = total
}

// NewMix builds a Mix from {class: weight}. Weights need not sum to 1; a
// class with weight 0 is never picked.
func (m *Module) NewMix(weights map[string]float64) (*Mix, error) {
	names := make([]string, 0, len(weights))
	for name, w := range weights {
		if w < 0 {
			return nil, fmt.Errorf("crmplan.newMix: weight of %q is negative (%g)", name, w)
		}
		if w > 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("crmplan.newMix: no class has a weight above 0")
	}
	// Sorted so that a script picks the same sequence on every run.
	sort.Strings(names)
	mix := &Mix{m: m, classes: names, cum: make([]float64, len(names))}
	total := 0.0
	for i, name := range names {
		total += weights[name]
		mix.cum[i] = total
	}
	return mix, nil
}

// Pick returns one class name, drawn by weight.
func (x *Mix) Pick() string {
	// r is in [0, total): class i owns [cum[i-1], cum[i]).
	r := x.m.rand().Float64() * x.cum[len(x.cum)-1]
	i := sort.Search(len(x.cum), func(i int) bool { return x.cum[i] > r })
	return x.classes[i]
}

// Classes returns the classes the Mix can pick, sorted.
func (x *Mix) Classes() []string { return append([]string(nil), x.classes...) }

// Session returns request parameters that carry a signed-in session cookie
// and tag the request with its class, so that k6 reports latency per class:
// http.get(url, crm.session(data.session, "view")).
func (m *Module) Session(cookie, class string) map[string]any {
	return map[string]any{
		"cookies": map[string]any{"crm_session": cookie},
		"tags":    map[string]any{"class": class},
	}
}

// Bearer returns request parameters for an integration call with an API
// token, tagged with its class.
func (m *Module) Bearer(token, class string) map[string]any {
	return map[string]any{
		"headers": map[string]any{"Authorization": "Bearer " + token},
		"tags":    map[string]any{"class": class},
	}
}
