package app

// Opportunity stages, activity kinds and lead statuses.
var (
	Stages         = []string{"prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"}
	ActivityKinds  = []string{"call", "meeting", "task", "note"}
	LeadStatuses   = []string{"new", "contacted", "qualified", "disqualified", "converted"}
	ownerField     = Field{Name: "owner_id", Type: Ref}
	accountIDField = Field{Name: "account_id", Type: Ref}
)

// Resource is a kind of CRM record served under /api/v1/<Name>.
type Resource struct {
	Name   string
	Fields []Field
	// Sorts are the ?sort= keys the list accepts (each also with a "-").
	// "id" is the order records were created in (ids ascend as they are
	// made): the cheapest order to read many matches of a search in,
	// since it is the order they lie in on disk.
	Sorts []string
	// Filters are the ?<name>= list filters besides q, limit, after, sort.
	Filters []Field
}

// Resources are the record kinds, in the order the API documents them.
var Resources = []Resource{
	{
		Name: "accounts",
		Fields: []Field{
			{Name: "name", Type: Text, Required: true, Max: 200},
			{Name: "industry", Type: Text, Max: 100},
			{Name: "website", Type: Text, Max: 300},
			{Name: "phone", Type: Text, Max: 50},
			{Name: "city", Type: Text, Max: 100},
			{Name: "country", Type: Text, Max: 100},
			ownerField,
		},
		Sorts:   []string{"name", "updated", "id"},
		Filters: []Field{ownerField},
	},
	{
		Name: "contacts",
		Fields: []Field{
			{Name: "first_name", Type: Text, Required: true, Max: 100},
			{Name: "last_name", Type: Text, Required: true, Max: 100},
			{Name: "email", Type: Email, Max: 254},
			{Name: "phone", Type: Text, Max: 50},
			{Name: "title", Type: Text, Max: 100},
			accountIDField,
			ownerField,
		},
		Sorts:   []string{"name", "updated", "id"},
		Filters: []Field{ownerField, accountIDField},
	},
	{
		Name: "leads",
		Fields: []Field{
			{Name: "first_name", Type: Text, Max: 100},
			{Name: "last_name", Type: Text, Required: true, Max: 100},
			{Name: "company", Type: Text, Max: 200},
			{Name: "email", Type: Email, Max: 254},
			{Name: "phone", Type: Text, Max: 50},
			{Name: "status", Type: Enum, Enum: LeadStatuses, Default: "new", Required: true},
			{Name: "source", Type: Text, Max: 100},
			ownerField,
		},
		Sorts:   []string{"name", "updated", "id"},
		Filters: []Field{ownerField, {Name: "status", Type: Enum, Enum: LeadStatuses}},
	},
	{
		Name: "opportunities",
		Fields: []Field{
			{Name: "name", Type: Text, Required: true, Max: 200},
			{Name: "account_id", Type: Ref, Required: true},
			{Name: "stage", Type: Enum, Enum: Stages, Default: "prospecting", Required: true},
			{Name: "amount", Type: Money, Default: 0.0, Required: true},
			{Name: "probability", Type: Int, Max: 100},
			{Name: "close_date", Type: Date},
			ownerField,
		},
		Sorts:   []string{"name", "updated", "amount", "id"},
		Filters: []Field{ownerField, accountIDField, {Name: "stage", Type: Enum, Enum: Stages}},
	},
	{
		Name: "activities",
		Fields: []Field{
			{Name: "kind", Type: Enum, Enum: ActivityKinds, Required: true},
			{Name: "subject", Type: Text, Required: true, Max: 200},
			{Name: "notes", Type: Text, Max: 10000},
			{Name: "due_at", Type: Time},
			{Name: "done", Type: Bool, Default: false},
			accountIDField,
			{Name: "contact_id", Type: Ref},
			{Name: "opportunity_id", Type: Ref},
			ownerField,
		},
		Sorts: []string{"name", "updated", "id"},
		// contact_id and opportunity_id give the contact and deal pages their
		// timelines (indexes in migration 6).
		Filters: []Field{ownerField, accountIDField, {Name: "kind", Type: Enum, Enum: ActivityKinds}, {Name: "done", Type: Bool},
			{Name: "contact_id", Type: Ref}, {Name: "opportunity_id", Type: Ref}},
	},
}

// ResourceNamed returns the resource called name.
func ResourceNamed(name string) (Resource, bool) {
	for _, r := range Resources {
		if r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// DecodeCreate validates a JSON object for a new record.
func (r Resource) DecodeCreate(body []byte) (Changes, error) {
	obj, err := DecodeObject(body)
	if err != nil {
		return Changes{}, err
	}
	return DecodeFields(obj, r.Fields, true)
}

// DecodePatch validates a partial JSON object for an update.
func (r Resource) DecodePatch(body []byte) (Changes, error) {
	obj, err := DecodeObject(body)
	if err != nil {
		return Changes{}, err
	}
	return DecodeFields(obj, r.Fields, false)
}
