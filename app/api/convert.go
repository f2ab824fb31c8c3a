package api

import (
	"net/http"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/store"
)

// conversionFields are the body of POST /leads/{id}/convert, all optional:
// an existing account_id or the name of a new account (the lead's company
// by default), and a deal when deal_name is given.
var conversionFields = []app.Field{
	{Name: "account_id", Type: app.Ref},
	{Name: "account_name", Type: app.Text, Max: 200},
	{Name: "deal_name", Type: app.Text, Max: 200},
	{Name: "deal_amount", Type: app.Money},
}

// convertLead makes a contact, an account and a deal of a lead in one
// transaction and answers with all of them (store.Converted).
func (a *API) convertLead(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	fail := func(err error) { writeError(w, r, a.log, err) }
	id, err := pathID(r)
	if err != nil {
		fail(err)
		return
	}
	b, err := readBody(w, r, maxJSONBody, "application/json")
	if err != nil {
		fail(err)
		return
	}
	obj, err := app.DecodeObject(b)
	if err != nil {
		fail(err)
		return
	}
	// As a create: an empty body is fine, nothing is required.
	c, err := app.DecodeFields(obj, conversionFields, true)
	if err != nil {
		fail(err)
		return
	}
	var conv store.Conversion
	if v, ok := c.Get("account_id"); ok && v != nil {
		acc := v.(int64)
		conv.AccountID = &acc
		if err := a.store.CheckRefs(r.Context(), p, c); err != nil {
			fail(err)
			return
		}
	}
	if v, ok := c.Get("account_name"); ok && v != nil {
		conv.AccountName = v.(string)
	}
	if v, ok := c.Get("deal_name"); ok && v != nil {
		conv.DealName = v.(string)
	}
	if v, ok := c.Get("deal_amount"); ok && v != nil {
		if conv.DealName == "" {
			fail(app.Errorf(app.EINVALID, "a deal amount needs a deal_name").In("deal_amount"))
			return
		}
		conv.DealAmount = v.(float64)
	}
	out, err := a.store.ConvertLead(r.Context(), p, id, conv)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}
