package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmplan/crmplan/app"
	"github.com/crmplan/crmplan/app/secret"
)

const userColumns = "u.id, u.email, u.name, u.role, u.manager_id, u.active, u.created_at, u.updated_at, u.password_hash"

func scanUser(row pgx.Row, extra ...any) (app.User, error) {
	var u app.User
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &u.ManagerID, &u.Active, &u.CreatedAt, &u.UpdatedAt, &u.PasswordHash}, extra...)
	err := row.Scan(dest...)
	return u, err
}

// NewUser is a user to create; PasswordHash comes from secret.HashPassword.
type NewUser struct {
	Email, Name  string
	Role         app.Role
	ManagerID    *int64
	PasswordHash string
}

// CreateUser inserts a user; ECONFLICT if the e-mail is taken.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (app.User, error) {
	row := s.pri().QueryRow(ctx, `INSERT INTO users AS u (email, name, role, manager_id, password_hash)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+userColumns, app.NormalizeEmail(n.Email), n.Name, n.Role, n.ManagerID, n.PasswordHash)
	u, err := scanUser(row)
	if err != nil {
		return app.User{}, dbError(err, "user")
	}
	s.wrote(ctx)
	return u, nil
}

// UserByEmail returns an active user for sign-in.
func (s *Store) UserByEmail(ctx context.Context, email string) (app.User, error) {
	u, err := scanUser(s.pri().QueryRow(ctx, "SELECT "+userColumns+" FROM users u WHERE u.email = $1 AND u.active", app.NormalizeEmail(email)))
	return u, dbError(err, "user")
}

// User returns a user p may see: admins see all, managers their team,
// reps themselves.
func (s *Store) User(ctx context.Context, p *app.Principal, id int64) (app.User, error) {
	if !p.MayOwn(id) {
		return app.User{}, app.Errorf(app.ENOTFOUND, "user not found")
	}
	u, err := scanUser(s.pri().QueryRow(ctx, "SELECT "+userColumns+" FROM users u WHERE u.id = $1", id))
	return u, dbError(err, "user")
}

// Users lists the users p may see, by id.
func (s *Store) Users(ctx context.Context, p *app.Principal) ([]app.User, error) {
	sql, args := "SELECT "+userColumns+" FROM users u ORDER BY u.id LIMIT 10000", []any{}
	if owners := p.Owners(); owners != nil {
		sql, args = "SELECT "+userColumns+" FROM users u WHERE u.id = ANY($1) ORDER BY u.id", []any{owners}
	}
	rows, err := s.reader(ctx).Query(ctx, sql, args...)
	if err != nil {
		return nil, dbError(err, "users")
	}
	defer rows.Close()
	users := []app.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, dbError(err, "users")
		}
		users = append(users, u)
	}
	return users, dbError(rows.Err(), "users")
}

// UpdateUser applies changes (columns of users) to user id. A new
// password_hash ends the user's sessions but keep (the one the change was
// made with; nil for none) and revokes all their API tokens: whoever had
// the old password may have made either.
func (s *Store) UpdateUser(ctx context.Context, id int64, c app.Changes, keep []byte) (app.User, error) {
	var a args
	sets := []string{"updated_at = now()"}
	for i, col := range c.Columns {
		sets = append(sets, col+" = "+a.add(c.Values[i]))
	}
	sql := "UPDATE users u SET " + strings.Join(sets, ", ") + " WHERE u.id = " + a.add(id) + " RETURNING " + userColumns
	u, err := scanUser(s.pri().QueryRow(ctx, sql, a...))
	if err != nil {
		return app.User{}, dbError(err, "user")
	}
	if v, ok := c.Get("active"); ok && v == false {
		_, _ = s.pri().Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", id)
	}
	if _, ok := c.Get("password_hash"); ok {
		if err := s.revokeAll(ctx, id, keep); err != nil {
			return app.User{}, err
		}
	}
	s.wrote(ctx)
	return u, nil
}

// revokeAll ends a user's sessions but keep and deletes their API tokens.
// Not in the UPDATE's transaction: a failure here is reported, and the
// password is changed either way.
func (s *Store) revokeAll(ctx context.Context, userID int64, keep []byte) error {
	if keep == nil {
		keep = []byte{}
	}
	if _, err := s.pri().Exec(ctx, "DELETE FROM sessions WHERE user_id = $1 AND hash <> $2", userID, keep); err != nil {
		return dbError(err, "sessions")
	}
	if _, err := s.pri().Exec(ctx, "DELETE FROM api_tokens WHERE user_id = $1", userID); err != nil {
		return dbError(err, "tokens")
	}
	return nil
}

// CreateSession starts a session for a user and returns the secret token
// for the cookie.
func (s *Store) CreateSession(ctx context.Context, userID int64, ttl time.Duration) (string, error) {
	token, hash := secret.NewToken("")
	_, err := s.pri().Exec(ctx, "INSERT INTO sessions (hash, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)",
		hash, userID, ttl.String())
	if err != nil {
		return "", dbError(err, "session")
	}
	// Now and then, forget expired sessions.
	if hash[0] == 0 {
		_, _ = s.pri().Exec(ctx, "DELETE FROM sessions WHERE expires_at < now()")
	}
	return token, nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.pri().Exec(ctx, "DELETE FROM sessions WHERE hash = $1", secret.HashToken(token))
	return dbError(err, "session")
}

// principalSQL loads a user with their team in one round trip.
const principalSQL = "SELECT " + userColumns + `, ARRAY(SELECT m.id FROM users m WHERE m.manager_id = u.id AND u.role = 'manager')
	FROM users u WHERE u.active AND u.id = `

// SessionPrincipal returns who holds a session token; EUNAUTHORIZED if the
// session does not exist or has expired.
func (s *Store) SessionPrincipal(ctx context.Context, token string) (*app.Principal, error) {
	return s.principal(ctx, principalSQL+"(SELECT user_id FROM sessions WHERE hash = $1 AND expires_at > now())", token, "session")
}

// TokenPrincipal returns who holds an API token.
func (s *Store) TokenPrincipal(ctx context.Context, token string) (*app.Principal, error) {
	return s.principal(ctx, principalSQL+"(SELECT user_id FROM api_tokens WHERE hash = $1 AND expires_at > now())", token, "token")
}

func (s *Store) principal(ctx context.Context, sql, token, via string) (*app.Principal, error) {
	var team []int64
	u, err := scanUser(s.pri().QueryRow(ctx, sql, secret.HashToken(token)), &team)
	if err == pgx.ErrNoRows {
		return nil, app.Errorf(app.EUNAUTHORIZED, "%s is invalid or has expired; sign in again", via)
	}
	if err != nil {
		return nil, dbError(err, via)
	}
	return &app.Principal{User: u, Team: append([]int64{u.ID}, team...), Via: via}, nil
}

// PrincipalByID loads user id as a principal, as a session for it
// would. For tools and tests that act as a user without a token.
func (s *Store) PrincipalByID(ctx context.Context, id *int64) (*app.Principal, error) {
	if id == nil {
		return nil, app.Errorf(app.ENOTFOUND, "user not found")
	}
	var team []int64
	u, err := scanUser(s.pri().QueryRow(ctx, principalSQL+"$1", *id), &team)
	if err != nil {
		return nil, dbError(err, "user")
	}
	return &app.Principal{User: u, Team: append([]int64{u.ID}, team...), Via: "internal"}, nil
}

// Token is an API token's record; the secret itself is shown only once.
type Token struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateToken makes an API token for a user that expires after ttl; the
// token is returned once.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, ttl time.Duration) (Token, string, error) {
	token, hash := secret.NewToken("crm_")
	t := Token{Name: name}
	err := s.pri().QueryRow(ctx, `INSERT INTO api_tokens (hash, user_id, name, expires_at) VALUES ($1, $2, $3, now() + $4::interval)
		RETURNING id, created_at, expires_at`, hash, userID, name, ttl.String()).Scan(&t.ID, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return Token{}, "", dbError(err, "token")
	}
	// Now and then, forget expired tokens.
	if hash[0] == 0 {
		_, _ = s.pri().Exec(ctx, "DELETE FROM api_tokens WHERE expires_at < now()")
	}
	return t, token, nil
}

// Tokens lists the unexpired API tokens of a user.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.pri().Query(ctx, "SELECT id, name, created_at, expires_at FROM api_tokens WHERE user_id = $1 AND expires_at > now() ORDER BY id", userID)
	if err != nil {
		return nil, dbError(err, "tokens")
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.ExpiresAt); err != nil {
			return nil, dbError(err, "tokens")
		}
		out = append(out, t)
	}
	return out, dbError(rows.Err(), "tokens")
}

// RevokeToken deletes token id of a user p may act for (admins: anyone's)
// and returns its hash, for the principal cache to forget; ENOTFOUND else.
func (s *Store) RevokeToken(ctx context.Context, p *app.Principal, id int64) ([]byte, error) {
	sql, args := "DELETE FROM api_tokens WHERE id = $1 RETURNING hash", []any{id}
	if p.User.Role != app.RoleAdmin {
		sql, args = "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING hash", []any{id, p.User.ID}
	}
	var hash []byte
	if err := s.pri().QueryRow(ctx, sql, args...).Scan(&hash); err != nil {
		return nil, dbError(err, "token")
	}
	return hash, nil
}
