// Package sizing is crmplan's capacity model: it turns a workload (named
// users, concurrency, requests per active session per minute, records) and a
// list of tiers into server counts, utilizations, predicted latencies and a
// database estimate.
//
// It is pure: no I/O, no clocks, no globals. Everything it needs arrives in a
// Model; everything it knows leaves in an Estimate. Default tables come from
// functions (DefaultMix, DefaultTier, DefaultTiers, DefaultSLO,
// DefaultDatabase); defaults.go explains every number.
//
// # Workload
//
// N named users, a share c of them logged in, t requests per active session
// per minute: N*c concurrent users and lambda = N*c*t/60 requests/s (seed
// 000: 3000 * 0.6 * 5 / 60 = 150). The tiers are sized for the design rate
// lambda * peak factor * (1+growth)^years.
//
// # Tiers
//
// A tier sees design rate * visit requests/s. Its demand D is the
// mix-weighted sum of its per-class demands (ms of one core). Utilization
// follows the utilization law U = lambda*D/(servers*cores). Only the classes
// with a demand at a tier queue there: the ESB serves the 10 % integration
// calls at 30 ms each, not every request at 3 ms, and its latency is theirs.
//
// Response times come from an M/M/c queue with c = servers*cores: the
// probability of waiting is Erlang C, computed from the Erlang B recursion
// (stable for any c); the mean is D + C/(c*mu - lambda); the p95 is solved
// numerically from the response time's distribution, a mixture of the
// service time alone (probability 1-C) and the service time plus an
// exponential wait (probability C).
//
// Server counts: the fewest servers meeting the target utilization, raised
// where a tier's share of the p95 SLO needs it, plus one for HA tiers, at
// least Min; see Size for how the SLO is apportioned. The end-to-end mean is
// the expected sum across tiers; the end-to-end p95 is the slowest class
// path's sum of per-tier p95, a conservative bound (see endToEnd). The SLO is
// judged with every HA tier one server short (Estimate.Failover).
//
// Each tier also reports where it saturates: the arrival rate at 100 %
// utilization with its servers, and that point in named users.
//
// # Database
//
// Storage, working set, RAM, connection pools (Little's law and the cores
// rule) and PGTune-style settings; see database.go.
//
// # What-if
//
// Sweep sizes the model along named users, concurrency or TPM (100,000
// scenarios in about a fifth of a second of CPU); Project sizes each year of
// the growth horizon, to say when the next server is needed.
package sizing
