package seed

// Word lists for realistic-looking records. Combined at random they give
// millions of distinct names, and searches hit a useful share of them.
var (
	firstNames = []string{"Ann", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Karin", "Liam", "Maria", "Noah", "Olga", "Paul",
		"Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Aiko", "Bruno", "Chloe", "Diego", "Emma", "Farid", "Greta", "Hana",
		"Ivan", "Julia", "Kenji", "Lena", "Marco", "Nina", "Oscar", "Priya", "Rafael", "Sofia", "Tomas", "Ulla", "Victor", "Wei", "Yara", "Zaid"}
	lastNames = []string{"Smith", "Müller", "Garcia", "Rossi", "Dubois", "Kowalski", "Nguyen", "Tanaka", "Silva", "Johansson", "Novak", "Schmidt", "Jones",
		"Fischer", "Martin", "Bernard", "Lopez", "Kim", "Chen", "Patel", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Schulz", "Koch", "Richter",
		"Klein", "Wolf", "Brown", "Taylor", "Wilson", "Moore", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker",
		"Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner", "Torres", "Parker", "Collins", "Edwards"}
	companyHeads = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Aperture",
		"Nakatomi", "Oscorp", "Wonka", "Gringotts", "Monarch", "Massive", "Dunder", "Pied", "Blue", "Red", "North", "Silver", "Green", "Alpha", "Nova",
		"Summit", "Pioneer", "Atlas", "Orion", "Vertex", "Quantum", "Polar", "Crystal", "Granite", "Harbor", "Lakeside", "Meridian", "Sterling"}
	companyTails = []string{"Systems", "Industries", "Logistics", "Foods", "Energy", "Health", "Media", "Labs", "Partners", "Holdings", "Software",
		"Retail", "Motors", "Consulting", "Capital", "Networks", "Pharma", "Textiles", "Robotics", "Analytics"}
	legalForms = []string{"Inc.", "Ltd", "GmbH", "AG", "S.A.", "LLC", "B.V.", "Oy", "SE", "Corp."}
	industries = []string{"Software", "Manufacturing", "Retail", "Healthcare", "Finance", "Logistics", "Energy", "Education", "Telecom", "Media",
		"Hospitality", "Automotive", "Agriculture", "Construction", "Insurance", "Public Sector"}
	cities = [][2]string{{"Berlin", "Germany"}, {"Munich", "Germany"}, {"Hamburg", "Germany"}, {"Paris", "France"}, {"Lyon", "France"},
		{"Madrid", "Spain"}, {"Milan", "Italy"}, {"Vienna", "Austria"}, {"Zurich", "Switzerland"}, {"Amsterdam", "Netherlands"},
		{"Warsaw", "Poland"}, {"Prague", "Czechia"}, {"Stockholm", "Sweden"}, {"Helsinki", "Finland"}, {"London", "United Kingdom"},
		{"Dublin", "Ireland"}, {"New York", "United States"}, {"Chicago", "United States"}, {"Austin", "United States"}, {"Toronto", "Canada"},
		{"São Paulo", "Brazil"}, {"Tokyo", "Japan"}, {"Singapore", "Singapore"}, {"Sydney", "Australia"}, {"Mumbai", "India"}}
	titles = []string{"CEO", "CTO", "CFO", "Head of Sales", "Purchasing Manager", "IT Director", "Office Manager", "Operations Lead",
		"Procurement Specialist", "VP Engineering", "Marketing Manager", "Account Manager", "Project Manager", "Consultant", "Buyer"}
	leadSources = []string{"web", "trade fair", "referral", "cold call", "partner", "newsletter", "webinar", "advertising"}
	dealWords   = []string{"Renewal", "Expansion", "Pilot", "Rollout", "Upgrade", "Migration", "Support contract", "Licenses", "Training",
		"Integration", "Consulting", "Hardware refresh"}
	subjects = map[string][]string{
		"call":    {"Intro call", "Follow-up call", "Pricing call", "Check-in", "Call back about offer", "Discovery call"},
		"meeting": {"On-site visit", "Demo", "Quarterly review", "Contract negotiation", "Workshop", "Kick-off"},
		"task":    {"Send offer", "Prepare proposal", "Update contract", "Send invoice", "Schedule demo", "Collect requirements"},
		"note":    {"Budget approved", "Decision in Q3", "Competitor involved", "Champion left", "Wants discount", "Happy with support"},
	}
	stageWeights = []int{30, 20, 15, 10, 15, 10} // prospecting .. closed_lost
	leadStatuses = []string{"new", "contacted", "qualified", "disqualified"}
	kinds        = []string{"call", "meeting", "task", "note"}
	stageNames   = []string{"prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"}
)
