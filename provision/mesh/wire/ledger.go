package wire

// WorkLedger reads back, on the primary's host, which ledger keys of a
// chaos run (crmplan verify --chaos) the CRM's database holds: payload a
// LedgerQuery (JSON), output a Ledger (JSON). It runs on that host because
// the database may be out of the controller's reach (an isolated stack's
// LAN has no route from the machine running crmplan).
const WorkLedger = "crmplan-ledger"

// LedgerQuery asks for the keys of one run.
type LedgerQuery struct {
	Database string `json:"database"`
	Run      string `json:"run"` // the run id the keys start with (lt-RUN-...)
}

// Ledger is the keys of the run the database holds, as stored (the CRM
// keeps e-mail addresses in lower case).
type Ledger struct {
	Keys []string `json:"keys"`
}
