package wire

// WorkProbe tries TCP connections from the host (inside its network
// namespace on an isolated stack): payload a Probe (JSON), output a
// ProbeReport (JSON). crmplan probe runs it on every host.
const WorkProbe = "crmplan-probe"

// Probe is what a probe unit tries: each address (host:port) once, at
// most TimeoutMs each, all at once.
type Probe struct {
	Addrs     []string `json:"addrs"`
	TimeoutMs int      `json:"timeout_ms"`
}

// What a connection attempt met.
const (
	ProbeOpen    = "open"    // connected: something listens and the network lets it through
	ProbeRefused = "refused" // the host answered with a reset: the network let it through, nothing listens
	ProbeDenied  = "denied"  // no route, administratively prohibited, or no answer in time
)

// ProbeResult is one attempt.
type ProbeResult struct {
	Addr   string `json:"addr"`
	Result string `json:"result"` // ProbeOpen, ProbeRefused or ProbeDenied
	Error  string `json:"error,omitempty"`
}

// Reached says whether the network let the connection through.
func (r ProbeResult) Reached() bool { return r.Result == ProbeOpen || r.Result == ProbeRefused }

// ProbeReport is a probe unit's output, in the order of the Probe's Addrs.
type ProbeReport struct {
	Results []ProbeResult `json:"results"`
}
