// Package queue is the publish/subscribe broker (crm queue, seed 002's
// ARPuSuB). Publishers POST messages to a topic; subscribers long-poll for
// the messages after the last sequence number they saw. A broker forwards
// what its own clients publish to its peers (the broker of the other LAN),
// so a subscriber in either LAN sees every message once.
package queue

import (
	"context"
	"sync"
	"time"
)

// Message is one published message as a subscriber receives it.
type Message struct {
	Seq    uint64    `json:"seq"`    // this broker's order, per topic
	ID     string    `json:"id"`     // origin broker + its sequence: unique across brokers
	Origin string    `json:"origin"` // the broker a client published to
	Body   string    `json:"body"`
	At     time.Time `json:"at"`
}

// topic keeps the last Retain messages and wakes waiting subscribers.
type topic struct {
	msgs []Message
	seq  uint64
	seen map[string]bool // IDs still retained: a retried forward is stored once
	wake chan struct{}   // closed and replaced on every new message
}

// Log is the broker's in-memory message store.
type Log struct {
	mu     sync.Mutex
	topics map[string]*topic
	retain int
	now    func() time.Time
}

// NewLog keeps the last retain messages of each topic.
func NewLog(retain int) *Log {
	return &Log{topics: map[string]*topic{}, retain: retain, now: time.Now}
}

func (l *Log) topic(name string) *topic {
	t := l.topics[name]
	if t == nil {
		t = &topic{seen: map[string]bool{}, wake: make(chan struct{})}
		l.topics[name] = t
	}
	return t
}

// Append stores m (its ID already set) unless the topic holds that ID,
// and reports whether it was new.
func (l *Log) Append(name string, m Message) (Message, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.topic(name)
	if t.seen[m.ID] {
		return m, false
	}
	t.seq++
	m.Seq, m.At = t.seq, l.now()
	t.msgs = append(t.msgs, m)
	t.seen[m.ID] = true
	if len(t.msgs) > l.retain {
		delete(t.seen, t.msgs[0].ID)
		t.msgs = t.msgs[1:]
	}
	close(t.wake)
	t.wake = make(chan struct{})
	return m, true
}

// Depth is what a topic holds.
type Depth struct {
	Retained int    `json:"retained"` // messages kept for subscribers
	LastSeq  uint64 `json:"last_seq"` // messages the topic has taken since the broker started
}

// Depths returns every topic's depth, by name.
func (l *Log) Depths() map[string]Depth {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Depth, len(l.topics))
	for name, t := range l.topics {
		out[name] = Depth{Retained: len(t.msgs), LastSeq: t.seq}
	}
	return out
}

// After returns up to max messages with Seq > after, waiting until there is
// one or ctx ends (then it returns none and no error: an empty poll).
func (l *Log) After(ctx context.Context, name string, after uint64, max int) []Message {
	for {
		l.mu.Lock()
		t := l.topic(name)
		var out []Message
		for _, m := range t.msgs {
			if m.Seq > after && len(out) < max {
				out = append(out, m)
			}
		}
		wake := t.wake
		l.mu.Unlock()
		if len(out) > 0 {
			return out
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		}
	}
}
