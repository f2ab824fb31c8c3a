package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/secret"
	"github.com/crmplan/crmplan/app/store"
)

// userFields are the writable fields of a user; "password" is handled apart.
var userFields = []app.Field{
	{Name: "email", Type: app.Email, Required: true, Max: 254},
	{Name: "name", Type: app.Text, Required: true, Max: 100},
	{Name: "role", Type: app.Enum, Enum: app.Roles, Required: true},
	{Name: "manager_id", Type: app.Ref},
	{Name: "active", Type: app.Bool},
}

// adminOnly user fields: who may do what is an admin's decision.
var adminOnly = []string{"email", "role", "manager_id", "active"}

func hasMediaType(ct, want string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(strings.ToLower(mt)) == want
}

func isTooLarge(err error) bool {
	var e *http.MaxBytesError
	return errors.As(err, &e) || strings.Contains(err.Error(), "request body too large")
}

// decodeUser splits off the password and validates the rest.
func decodeUser(b []byte, create bool) (app.Changes, string, error) {
	obj, err := app.DecodeObject(b)
	if err != nil {
		return app.Changes{}, "", err
	}
	var password string
	if raw, ok := obj["password"]; ok {
		if err := json.Unmarshal(raw, &password); err != nil || len(password) < 8 || len(password) > 256 {
			return app.Changes{}, "", app.Errorf(app.EINVALID, "must be a string of 8 to 256 characters").In("password")
		}
		delete(obj, "password")
	} else if create {
		return app.Changes{}, "", app.Errorf(app.EINVALID, "is required").In("password")
	}
	if !create && len(obj) == 0 && password != "" {
		return app.Changes{}, password, nil
	}
	c, err := app.DecodeFields(obj, userFields, create)
	return c, password, err
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	users, err := a.store.Users(r.Context(), p)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": users, "next": ""})
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	u, err := a.store.User(r.Context(), p, id)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// createUser: admins create anyone; managers create reps in their team.
func (a *API) createUser(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	b, err := readBody(w, r, maxJSONBody, "application/json")
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	c, password, err := decodeUser(b, true)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	role, _ := c.Get("role")
	n := store.NewUser{Role: app.Role(role.(string))}
	email, _ := c.Get("email")
	name, _ := c.Get("name")
	n.Email, n.Name = email.(string), name.(string)
	if v, _ := c.Get("manager_id"); v != nil {
		id := v.(int64)
		n.ManagerID = &id
	}
	switch p.User.Role {
	case app.RoleAdmin:
	case app.RoleManager:
		if n.Role != app.RoleRep {
			writeError(w, r, a.log, app.Errorf(app.EFORBIDDEN, "managers may only create reps").In("role"))
			return
		}
		n.ManagerID = &p.User.ID
	default:
		writeError(w, r, a.log, app.Errorf(app.EFORBIDDEN, "only admins and managers create users"))
		return
	}
	if n.PasswordHash, err = a.hashPassword(r.Context(), password); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	u, err := a.store.CreateUser(r.Context(), n)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.usersChanged()
	writeJSON(w, http.StatusCreated, u)
}

// updateUser: anyone may rename themselves or change their password, and
// managers those of their team; the rest is for admins.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p *app.Principal) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	b, err := readBody(w, r, maxJSONBody, "application/json")
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	c, password, err := decodeUser(b, false)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if !p.MayOwn(id) {
		writeError(w, r, a.log, app.Errorf(app.ENOTFOUND, "user not found"))
		return
	}
	for _, f := range adminOnly {
		if _, ok := c.Get(f); ok && p.User.Role != app.RoleAdmin {
			writeError(w, r, a.log, app.Errorf(app.EFORBIDDEN, "only admins change this").In(f))
			return
		}
	}
	if password != "" {
		hash, err := a.hashPassword(r.Context(), password)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		c.Set("password_hash", hash)
	}
	var keep []byte // the session this change comes with stays; the user's others end
	if ck, err := r.Cookie(sessionCookie); err == nil && p.Via == "session" && p.User.ID == id {
		keep = secret.HashToken(ck.Value)
	}
	u, err := a.store.UpdateUser(r.Context(), id, c, keep)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.usersChanged()
	writeJSON(w, http.StatusOK, u)
}

// usersChanged makes every api server re-read principals: a new user can
// join a manager's team, a change can alter a role or deactivate someone.
func (a *API) usersChanged() {
	if a.cfg.Principals != nil {
		a.cfg.Principals.ForgetAll()
	}
}

// hashPassword hashes in one of the sign-in slots: a password change costs
// the memory of a sign-in.
func (a *API) hashPassword(ctx context.Context, password string) (string, error) {
	var hash string
	var err error
	if herr := a.signIns.hash(ctx, func() { hash, err = secret.HashPassword(password, a.cfg.Password) }); herr != nil {
		return "", herr
	}
	return hash, err
}
