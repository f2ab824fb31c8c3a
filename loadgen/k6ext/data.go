package k6ext

import (
	"fmt"
	"math"
	"strings"
)

// The word lists are small on purpose: realistic enough that full-text search
// finds several matches per term, as it would in a real sales database.
var (
	firstNames = []string{
		"Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
		"Katja", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara",
		"Umar", "Vera", "Wei", "Yara", "Zoe", "Malik", "Sofia", "Lukas", "Amara", "Ravi",
	}
	lastNames = []string{
		"Schmidt", "Garcia", "Nguyen", "Okafor", "Rossi", "Kowalski", "Tanaka", "Silva",
		"Johansson", "Dubois", "Murphy", "Haddad", "Novak", "Fischer", "Moreau", "Kim",
		"Patel", "Larsen", "Costa", "Weber", "Ivanova", "Brennan", "Yilmaz", "Andersen",
	}
	companyWords = []string{
		"Northwind", "Bluepeak", "Ironbridge", "Silverline", "Greenfield", "Redwood",
		"Brightpath", "Stonegate", "Clearwater", "Summit", "Harbor", "Keystone",
		"Lakeside", "Pinecrest", "Riverbend", "Oakmont", "Westbrook", "Eastgate",
	}
	companySuffixes = []string{"GmbH", "Ltd", "Inc", "AG", "SA", "BV", "Group", "Partners"}
	industries      = []string{
		"manufacturing", "retail", "finance", "healthcare", "logistics", "energy",
		"software", "telecom", "education", "construction",
	}
	cities = []string{
		"Berlin", "Lisbon", "Oslo", "Lyon", "Milan", "Krakow", "Dublin", "Vienna",
		"Rotterdam", "Porto", "Zurich", "Gothenburg",
	}
	titles = []string{
		"Head of Purchasing", "CFO", "IT Manager", "Operations Director", "CEO",
		"Procurement Lead", "Sales Manager", "CTO", "Office Manager", "Project Lead",
	}
	stages = []string{"prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"}
	kinds  = []string{"call", "meeting", "task", "note"}
	topics = []string{"pricing", "renewal", "onboarding", "contract", "demo", "support", "expansion", "invoice"}
)

func (m *Module) pick(list []string) string { return list[m.rand().IntN(len(list))] }

// Person returns a contact or lead: first and last name, e-mail, phone, title.
func (m *Module) Person() map[string]any {
	first, last := m.pick(firstNames), m.pick(lastNames)
	domain := strings.ToLower(m.pick(companyWords)) + ".example"
	return map[string]any{
		"first_name": first,
		"last_name":  last,
		"email":      fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), m.rand().IntN(1000), domain),
		"phone":      fmt.Sprintf("+49 30 %04d %04d", m.rand().IntN(10000), m.rand().IntN(10000)),
		"title":      m.pick(titles),
	}
}

// Company returns an account: name, industry, website and city.
func (m *Module) Company() map[string]any {
	word := m.pick(companyWords)
	return map[string]any{
		"name":     word + " " + m.pick(companySuffixes),
		"industry": m.pick(industries),
		"website":  "https://www." + strings.ToLower(word) + ".example",
		"city":     m.pick(cities),
	}
}

// Amount returns a deal amount in whole currency units. Deal sizes in B2B
// sales are skewed: many small deals, a few large ones, so it is drawn from a
// log-normal distribution (median about 12,000, rarely above 500,000).
func (m *Module) Amount() int64 {
	v := math.Exp(9.4 + 1.1*m.rand().NormFloat64())
	return int64(math.Round(min(max(v, 500), 2_000_000)/100) * 100)
}

// Stage returns an opportunity stage.
func (m *Module) Stage() string { return m.pick(stages) }

// ActivityKind returns call, meeting, task or note.
func (m *Module) ActivityKind() string { return m.pick(kinds) }

// Subject returns a short activity subject such as "Call about renewal".
func (m *Module) Subject(kind string) string {
	verb := map[string]string{"call": "Call", "meeting": "Meeting", "task": "Follow up", "note": "Note"}[kind]
	if verb == "" {
		verb = "Follow up"
	}
	return verb + " about " + m.pick(topics)
}

// SearchTerm returns a term that a sales rep types into search: a last name
// or a company word, sometimes only its first letters.
func (m *Module) SearchTerm() string {
	term := m.pick(lastNames)
	if m.rand().IntN(2) == 0 {
		term = m.pick(companyWords)
	}
	if m.rand().IntN(4) == 0 {
		term = term[:3]
	}
	return term
}

// Int returns a number in [0, n), for picking among ids a script fetched.
func (m *Module) Int(n int) int {
	if n <= 0 {
		return 0
	}
	return m.rand().IntN(n)
}

// ContactsCSV returns n contacts as the CSV body of POST /api/v1/import/contacts,
// the integration path; each row's e-mail carries a ledger key.
func (m *Module) ContactsCSV(n int, run string) string {
	var b strings.Builder
	b.WriteString("first_name,last_name,email,phone,title\n")
	for range n {
		p := m.Person()
		key := m.Key(run)
		fmt.Fprintf(&b, "%s,%s,%s@ledger.example,%s,%s\n", p["first_name"], p["last_name"], key, p["phone"], p["title"])
	}
	return b.String()
}
