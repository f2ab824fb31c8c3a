package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is one broker.
type Config struct {
	Name    string   // unique among the brokers: it prefixes message IDs
	Peers   []string // base URLs of the brokers to forward to
	Retain  int      // messages kept per topic; default 10000
	MaxBody int64    // largest message in bytes; default 64 KiB
	// Transport carries the forwards to the peers (which require the
	// stack's service key: stackkey.Key.Transport); nil means the default.
	Transport http.RoundTripper
	Log       *slog.Logger
}

// Broker serves the topics over HTTP and forwards to its peers.
type Broker struct {
	cfg     Config
	log     *Log
	seq     atomic.Uint64
	peers   []chan forward
	client  *http.Client
	counts  *prometheus.CounterVec
	backlog *prometheus.GaugeVec
}

type forward struct {
	topic string
	msg   Message
}

// originHeader marks a forwarded message: a peer stores it but does not
// forward it again, so two brokers never bounce a message between them.
const originHeader = "X-Queue-Origin"

// New returns a broker; Run starts its forwarding.
func New(cfg Config, reg prometheus.Registerer) *Broker {
	if cfg.Retain == 0 {
		cfg.Retain = 10000
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 10
	}
	b := &Broker{cfg: cfg, log: NewLog(cfg.Retain), client: &http.Client{Timeout: 5 * time.Second, Transport: cfg.Transport},
		counts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_queue_messages_total",
			Help: "Messages by event: published (by a client here), received (from a peer), forwarded, forward_failed, duplicate."}, []string{"event"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crm_queue_forward_backlog",
			Help: "Messages waiting to be forwarded, by peer."}, []string{"peer"}),
	}
	for range cfg.Peers {
		b.peers = append(b.peers, make(chan forward, 4096))
	}
	if reg != nil {
		reg.MustRegister(b.counts, b.backlog)
	}
	return b
}

var topicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,100}$`)

// Handler serves POST and GET /v1/topics/{topic}/messages.
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/topics/{topic}/messages", b.publish)
	mux.HandleFunc("GET /v1/topics/{topic}/messages", b.subscribe)
	mux.HandleFunc("GET /v1/topics", b.depths)
	return mux
}

// Stats is a broker's state for the admin console (GET /v1/topics).
type Stats struct {
	Broker  string           `json:"broker"`
	Topics  map[string]Depth `json:"topics"`
	Backlog map[string]int   `json:"backlog"` // messages waiting to be forwarded, by peer
}

func (b *Broker) depths(w http.ResponseWriter, r *http.Request) {
	st := Stats{Broker: b.cfg.Name, Topics: b.log.Depths(), Backlog: map[string]int{}}
	for i, p := range b.cfg.Peers {
		st.Backlog[p] = len(b.peers[i])
	}
	writeJSON(w, http.StatusOK, st)
}

func (b *Broker) publish(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if !topicRE.MatchString(name) {
		writeError(w, http.StatusBadRequest, "a topic is 1 to 100 of a-z A-Z 0-9 . _ -")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.cfg.MaxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("messages are limited to %d bytes", b.cfg.MaxBody))
		return
	}
	m := Message{Body: string(body), Origin: r.Header.Get(originHeader), ID: r.Header.Get("X-Queue-Message-Id")}
	fromPeer := m.Origin != "" && m.ID != ""
	if !fromPeer {
		m.Origin = b.cfg.Name
		m.ID = fmt.Sprintf("%s-%d", b.cfg.Name, b.seq.Add(1))
	}
	m, fresh := b.log.Append(name, m)
	switch {
	case !fresh:
		b.counts.WithLabelValues("duplicate").Inc()
	case fromPeer:
		b.counts.WithLabelValues("received").Inc()
	default:
		b.counts.WithLabelValues("published").Inc()
		for i, p := range b.peers {
			select {
			case p <- forward{topic: name, msg: m}:
				b.backlog.WithLabelValues(b.cfg.Peers[i]).Inc()
			default:
				b.counts.WithLabelValues("forward_failed").Inc() // backlog full: the peer has been down too long
			}
		}
	}
	writeJSON(w, http.StatusCreated, m)
}

// subscribe answers the messages after ?after= (default 0), waiting up to
// ?wait= (default 25 s, at most 60 s) for the first one.
func (b *Broker) subscribe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	var err error
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "after must be a sequence number")
			return
		}
	}
	wait := 25 * time.Second
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 || wait > time.Minute {
			writeError(w, http.StatusBadRequest, "wait must be a duration up to 60s, like 10s")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	msgs := b.log.After(ctx, r.PathValue("topic"), after, 1000)
	if msgs == nil {
		msgs = []Message{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

// Run forwards to the peers until ctx ends, retrying each message until
// its peer takes it, in order.
func (b *Broker) Run(ctx context.Context) {
	for i, p := range b.peers {
		go b.forwardTo(ctx, b.cfg.Peers[i], p)
	}
	<-ctx.Done()
}

func (b *Broker) forwardTo(ctx context.Context, peer string, ch chan forward) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-ch:
			for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
				err := b.send(ctx, peer, f)
				if err == nil {
					break
				}
				b.counts.WithLabelValues("forward_failed").Inc()
				b.cfg.Log.Warn("forward to peer broker", "peer", peer, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(delay):
				}
			}
			b.counts.WithLabelValues("forwarded").Inc()
			b.backlog.WithLabelValues(peer).Dec()
		}
	}
}

func (b *Broker) send(ctx context.Context, peer string, f forward) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peer+"/v1/topics/"+f.topic+"/messages", bytes.NewReader([]byte(f.msg.Body)))
	if err != nil {
		return err
	}
	req.Header.Set(originHeader, f.msg.Origin)
	req.Header.Set("X-Queue-Message-Id", f.msg.ID)
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s", req.URL, res.Status)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
