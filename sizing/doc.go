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
// A request's whole path (Estimate.EndToEnd, its p95 and each class's) is
// the convolution of its hops, each hop a wait and a service time, plus
// the class's delay (Workload.DelayMs). The service times and the delay
// are exponential unless Workload.ServiceSCV is below 1: then each is an
// Erlang time of round(1/scv) stages with the same mean, which shortens
// the path's tail and moves no mean; the waits stay exponential. The
// tiers' own p95s and the server counts' budgets keep the exponential.
//
// Server counts: the fewest servers meeting the target utilization, raised
// where a tier's share of the p95 SLO needs it, plus one for HA tiers, at
// least Min; see Size for how the SLO is apportioned (per-tier budgets from
// the open model, so that a count never falls as the load grows). The SLO is
// judged with every HA tier one server short (Estimate.Failover).
//
// # Which model answers
//
// At the chosen counts the prediction comes from the model that fits the
// workload, and Estimate.Model says which and why. The seeds describe a
// closed population: N concurrent users (times peak and growth), each
// thinking Z = 60/TPM s between a response and the next request. That is
// solved by multi-class Mean Value Analysis over the tiers as
// processor-sharing stations with servers*cores servers each (mva.go):
// exact MVA with load-dependent stations when the population vectors are
// few enough, Bard-Schweitzer approximate MVA otherwise (seed 000's 1,800
// users). The open M/M/c model answers when the arrivals are a fixed rate
// (PredictAt: k6 holds an arrival rate) or when a tier is overloaded at the
// design rate, which a closed population would never reach.
//
// End-to-end latency is taken from the whole path's distribution: per
// class, the convolution of its tiers' response times (Laplace transforms
// multiplied and inverted numerically, path.go), and over all requests the
// mixture of the classes; the p95 is that distribution's, not a sum of
// per-tier percentiles.
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
// scenarios, MVA and path distributions included, in about 2 s of CPU;
// see BENCHMARKS.md); Project sizes each year of
// the growth horizon, to say when the next server is needed.
package sizing
