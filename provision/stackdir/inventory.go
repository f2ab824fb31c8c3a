package stackdir

import (
	"time"

	"github.com/crmplan/crmplan"
)

// Inventory is what apply leaves behind for the commands after it (verify,
// report, status): where the stack's hosts are and how to reach the CRM.
// It is written to <state-dir>/<stack>/inventory.json with mode 0600 because
// it holds the seeded users' passwords.
type Inventory struct {
	Stack  string `json:"stack"`
	Target string `json:"target"`  // "local"
	WebURL string `json:"web_url"` // the presentation tier's URL in the DMZ
	// WebCA is the file of the CA that WebURL's certificate chains to,
	// which crmplan's clients trust (stackdir.Paths.WebCA); empty when
	// WebURL is plain HTTP or its certificate chains to the system's roots.
	WebCA string          `json:"web_ca,omitempty"`
	Hosts []InventoryHost `json:"hosts"`
	// LoadUser is the CRM account the load test signs in with. Password is a
	// secret: never print or log it.
	LoadUser Credentials `json:"load_user"`
	// SeededUsers are every user crm seed made (admin@ first), each with
	// their own random password: secrets, like LoadUser's.
	SeededUsers []Credentials `json:"seeded_users,omitempty"`
	// ServiceKey is what docstore and the queue brokers require of their
	// callers (Authorization: Bearer KEY); a secret. Empty when the stack
	// runs neither.
	ServiceKey string `json:"service_key,omitempty"`
	// AppVersion identifies the deployed crm build (its SHA-256 prefix).
	AppVersion string `json:"app_version,omitempty"`
	Records    int64  `json:"records"` // records seeded into the database
	Users      int    `json:"users"`   // sales reps seeded (rep1..repN@example.com)
	// AppliedAt is when the apply that wrote it finished: a probe older
	// than that may not show the network as it is now.
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// InventoryHost is one deployed host.
type InventoryHost struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Zone       string `json:"zone"`
	Address    string `json:"address"`
	Port       int    `json:"port"`
	MetricsURL string `json:"metrics_url,omitempty"` // Prometheus /metrics of the host's process
	Dir        string `json:"dir,omitempty"`         // the host's directory on the local target
	// Instance is the cloud instance type the host is priced as (and
	// launched as, on a cloud target), so that preview can price a change.
	Instance string `json:"instance,omitempty"`
}

// Credentials sign in to the CRM.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoadInventory reads the inventory apply wrote. It returns ENOTFOUND when the
// stack was never applied (or was destroyed).
func LoadInventory(stateDir, stack string) (Inventory, error) {
	path := Paths{StateDir: stateDir, Stack: stack}.Inventory()
	var inv Inventory
	err := loadJSON(path, "inventory", &inv, crmplan.Errorf(crmplan.ENOTFOUND, "stack %q is not deployed (no %s)", stack, path).
		Try("crmplan apply --plan PLAN.yaml"))
	if err != nil {
		return Inventory{}, err
	}
	return inv, nil
}

// SaveInventory writes inv atomically with mode 0600.
func SaveInventory(stateDir string, inv Inventory) error {
	return saveJSON(Paths{StateDir: stateDir, Stack: inv.Stack}.Inventory(), "inventory", inv)
}
