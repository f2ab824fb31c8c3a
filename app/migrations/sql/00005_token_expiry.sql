-- +goose Up
-- API tokens expire (issue 19): tokens made before this had no end, among
-- them one admin token per `crmplan verify`; they get 30 days from now.
-- Revoking every token and session of a user (a password change) looks
-- them up by user.
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
UPDATE api_tokens SET expires_at = now() + interval '30 days';
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX sessions_user ON sessions (user_id);

-- +goose Down
DROP INDEX sessions_user, api_tokens_user;
ALTER TABLE api_tokens DROP COLUMN expires_at;
