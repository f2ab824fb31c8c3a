package store

import (
	"context"
	"encoding/json"

	"github.com/crmplan/crmplan/app"
)

// Conversion says what a lead becomes: a contact on an existing account
// (AccountID) or on a new one named AccountName (the lead's company when
// empty), and a deal when DealName is set.
type Conversion struct {
	AccountID   *int64
	AccountName string
	DealName    string
	DealAmount  float64
}

// Converted is what ConvertLead made, each record as the API returns it;
// Opportunity is nil without a deal.
type Converted struct {
	Lead        json.RawMessage `json:"lead"`
	Account     json.RawMessage `json:"account"`
	Contact     json.RawMessage `json:"contact"`
	Opportunity json.RawMessage `json:"opportunity"`
}

// ConvertLead turns a lead p may change into a contact, an account (new or
// given) and optionally a deal, in one transaction, and keeps the lead with
// status converted. The new records belong to the lead's owner. ENOTFOUND
// if p may not see the lead; ECONFLICT if it is already converted. The
// caller checks that p may see AccountID (CheckRefs).
func (s *Store) ConvertLead(ctx context.Context, p *app.Principal, id int64, c Conversion) (Converted, error) {
	var out Converted
	tx, err := s.pri().Begin(ctx)
	if err != nil {
		return out, dbError(err, "lead")
	}
	defer func() { _ = tx.Rollback(ctx) }()

	var a args
	sql := "SELECT t.owner_id, t.status, coalesce(t.company, '') FROM leads t WHERE t.id = " + a.add(id)
	if owners := p.Owners(); owners != nil {
		sql += " AND t.owner_id = ANY(" + a.add(owners) + ")"
	}
	var owner int64
	var status, company string
	// FOR UPDATE: two conversions of one lead at once make one contact.
	if err := tx.QueryRow(ctx, sql+" FOR UPDATE", a...).Scan(&owner, &status, &company); err != nil {
		return out, dbError(err, "lead")
	}
	if status == "converted" {
		return out, app.Errorf(app.ECONFLICT, "lead %d is already converted; open its contact instead", id)
	}

	var accountID int64
	if c.AccountID != nil {
		err = tx.QueryRow(ctx, "SELECT id, "+recordJSON+" FROM accounts t WHERE t.id = $1", *c.AccountID).Scan(&accountID, &out.Account)
	} else {
		name := c.AccountName
		if name == "" {
			name = company
		}
		if name == "" {
			return out, app.Errorf(app.EINVALID, "the lead has no company; name the new account or pick one").In("account_name")
		}
		err = tx.QueryRow(ctx, "INSERT INTO accounts AS t (owner_id, name) VALUES ($1, $2) RETURNING id, "+recordJSON, owner, name).Scan(&accountID, &out.Account)
	}
	if err != nil {
		return out, dbError(err, "account")
	}
	var contactID int64
	err = tx.QueryRow(ctx, `INSERT INTO contacts AS t (owner_id, account_id, first_name, last_name, email, phone)
		SELECT l.owner_id, $2, coalesce(l.first_name, ''), l.last_name, l.email, l.phone FROM leads l WHERE l.id = $1
		RETURNING id, `+recordJSON, id, accountID).Scan(&contactID, &out.Contact)
	if err != nil {
		return out, dbError(err, "contact")
	}
	if c.DealName != "" {
		var dealID int64
		err = tx.QueryRow(ctx, "INSERT INTO opportunities AS t (owner_id, account_id, name, amount) VALUES ($1, $2, $3, $4) RETURNING id, "+recordJSON,
			owner, accountID, c.DealName, c.DealAmount).Scan(&dealID, &out.Opportunity)
		if err != nil {
			return out, dbError(err, "opportunity")
		}
		_, err = tx.Exec(ctx, "INSERT INTO opportunity_stages (opportunity_id, to_stage, changed_by) SELECT id, stage, $2 FROM opportunities WHERE id = $1", dealID, p.User.ID)
		if err != nil {
			return out, dbError(err, "opportunity")
		}
	}
	err = tx.QueryRow(ctx, "UPDATE leads t SET status = 'converted', updated_at = now() WHERE t.id = $1 RETURNING "+recordJSON, id).Scan(&out.Lead)
	if err != nil {
		return out, dbError(err, "lead")
	}
	if err := tx.Commit(ctx); err != nil {
		return out, dbError(err, "lead")
	}
	s.wrote(ctx)
	return out, nil
}
