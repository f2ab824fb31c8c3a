package app

import (
	"slices"
	"strings"
	"time"
)

// Role decides what a user may see and change.
type Role string

const (
	RoleAdmin   Role = "admin"   // everything
	RoleManager Role = "manager" // own records and those of their team (users whose manager they are)
	RoleRep     Role = "rep"     // own records only
)

// Roles lists the valid roles.
var Roles = []string{string(RoleAdmin), string(RoleManager), string(RoleRep)}

// User is a person who signs in. PasswordHash never leaves the server: it
// has no JSON name.
type User struct {
	ID           int64     `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	ManagerID    *int64    `json:"manager_id"`
	Active       bool      `json:"active"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	PasswordHash string    `json:"-"`
}

// Principal is the signed-in user of a request with the ids of the users
// whose records they may see and change.
type Principal struct {
	User User
	// Team is the user and, for a manager, the users they manage.
	// It is unused for an admin, who sees everyone.
	Team []int64
	// Via is "session" or "token".
	Via string
}

// Owners returns the owner ids a principal's queries are limited to, or nil
// for no limit (admin).
func (p *Principal) Owners() []int64 {
	if p.User.Role == RoleAdmin {
		return nil
	}
	return p.Team
}

// MayOwn reports whether p may see and change records owned by ownerID.
func (p *Principal) MayOwn(ownerID int64) bool {
	if p.User.Role == RoleAdmin {
		return true
	}
	return slices.Contains(p.Team, ownerID)
}

// NormalizeEmail lower-cases and trims an e-mail address so that sign-in
// does not depend on how it was typed.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
