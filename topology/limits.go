package topology

import (
	"go.yaml.in/yaml/v3"

	"github.com/crmplan/crmplan"
)

// The bounds of a plan file. A real plan is a few kilobytes: twenty-odd
// zones and tiers. The bounds keep a hostile or mistaken file (an alias
// bomb, --plan /dev/zero) from costing more than a fraction of a second
// and a few megabytes.
const (
	// MaxPlanBytes is the largest plan file DecodePlan reads: readers stop
	// one byte after it, so a device or a pipe that never ends is refused
	// as soon as it has said too much.
	MaxPlanBytes = 1 << 20
	// MaxAliasValues is how many values aliases may repeat in all,
	// counting everything under an alias's anchor every time it is used.
	// Aliases that name a few values here and there stay far below it.
	MaxAliasValues = 1000
)

func tooLarge(filename string) error {
	return crmplan.Errorf(crmplan.EINVALID, "the plan file is larger than %d bytes (1 MiB)", MaxPlanBytes).In(filename).
		Try("point --plan at a plan file, e.g. crmplan size --named-users 3000 --write plan.yaml")
}

// ReadLimit is how much a reader of a plan file should read: one byte more
// than DecodePlan accepts, so that DecodePlan can tell a file that is too
// large from one that is exactly at the bound.
const ReadLimit = MaxPlanBytes + 1

// aliasBudget counts the values a decoder following aliases would visit
// through them, without following any: the expanded size of every anchor
// is computed once. A YAML anchor can contain an alias of itself
// ("&a [*a]"); its size counts as over the budget.
type aliasBudget struct {
	sizes   map[*yaml.Node]int // expanded size, capped at MaxAliasValues+1; -1 while being computed
	through int                // values repeated by aliases so far
}

// repeated returns the first alias (in document order) at which the
// values repeated through aliases exceed MaxAliasValues, or nil.
func (a *aliasBudget) repeated(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil
		}
		a.through += a.size(n.Alias)
		if a.through > MaxAliasValues {
			return n
		}
		return nil
	}
	for _, c := range n.Content {
		if bad := a.repeated(c); bad != nil {
			return bad
		}
	}
	return nil
}

// size is the number of values in n with every alias expanded, capped at
// MaxAliasValues+1.
func (a *aliasBudget) size(n *yaml.Node) int {
	const over = MaxAliasValues + 1
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1
		}
		n = n.Alias
	}
	switch s, ok := a.sizes[n]; {
	case ok && s < 0:
		return over // an anchor that contains itself never ends
	case ok:
		return s
	}
	a.sizes[n] = -1
	total := 1
	for _, c := range n.Content {
		total = min(total+a.size(c), over)
	}
	a.sizes[n] = total
	return total
}
