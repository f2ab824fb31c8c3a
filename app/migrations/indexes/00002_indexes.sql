-- Migration 2: indexes for keyset paging (sort key, id), filters,
-- full-text search and the reports. Separate from the schema so that `crm
-- seed` can load the tables first and build these afterwards, which is
-- several times faster.
--
-- Not a goose SQL file (it lives outside sql/): indexes.go runs these
-- statements as a Go migration, two at a time, because after a large seed
-- the GIN builds take minutes on one core each (PostgreSQL 15 builds a GIN
-- index in one process). Each statement is one CREATE or DROP, ending in a
-- semicolon at the end of a line; they run outside a transaction, so IF
-- NOT EXISTS and IF EXISTS let a run cut short resume.
-- +goose Up
CREATE INDEX IF NOT EXISTS accounts_name ON accounts (name, id);
CREATE INDEX IF NOT EXISTS accounts_updated ON accounts (updated_at, id);
CREATE INDEX IF NOT EXISTS accounts_owner ON accounts (owner_id, updated_at, id);
CREATE INDEX IF NOT EXISTS accounts_search ON accounts USING gin (search);

CREATE INDEX IF NOT EXISTS contacts_name ON contacts (last_name, id);
CREATE INDEX IF NOT EXISTS contacts_updated ON contacts (updated_at, id);
CREATE INDEX IF NOT EXISTS contacts_owner ON contacts (owner_id, updated_at, id);
CREATE INDEX IF NOT EXISTS contacts_account ON contacts (account_id, updated_at);
CREATE INDEX IF NOT EXISTS contacts_search ON contacts USING gin (search);

CREATE INDEX IF NOT EXISTS leads_name ON leads (last_name, id);
CREATE INDEX IF NOT EXISTS leads_updated ON leads (updated_at, id);
CREATE INDEX IF NOT EXISTS leads_owner ON leads (owner_id, updated_at, id);
CREATE INDEX IF NOT EXISTS leads_search ON leads USING gin (search);

CREATE INDEX IF NOT EXISTS opportunities_name ON opportunities (name, id);
CREATE INDEX IF NOT EXISTS opportunities_updated ON opportunities (updated_at, id);
CREATE INDEX IF NOT EXISTS opportunities_amount ON opportunities (amount, id);
CREATE INDEX IF NOT EXISTS opportunities_owner ON opportunities (owner_id, updated_at, id);
CREATE INDEX IF NOT EXISTS opportunities_account ON opportunities (account_id, updated_at);
CREATE INDEX IF NOT EXISTS opportunities_stage ON opportunities (stage) INCLUDE (amount);

CREATE INDEX IF NOT EXISTS activities_name ON activities (subject, id);
CREATE INDEX IF NOT EXISTS activities_updated ON activities (updated_at, id);
CREATE INDEX IF NOT EXISTS activities_owner ON activities (owner_id, updated_at, id);
CREATE INDEX IF NOT EXISTS activities_account ON activities (account_id, updated_at);
CREATE INDEX IF NOT EXISTS activities_created ON activities (created_at);
CREATE INDEX IF NOT EXISTS activities_search ON activities USING gin (search);

-- +goose Down
DROP INDEX IF EXISTS accounts_name, accounts_updated, accounts_owner, accounts_search,
    contacts_name, contacts_updated, contacts_owner, contacts_account, contacts_search,
    leads_name, leads_updated, leads_owner, leads_search,
    opportunities_name, opportunities_updated, opportunities_amount, opportunities_owner,
    opportunities_account, opportunities_stage,
    activities_name, activities_updated, activities_owner, activities_account, activities_created, activities_search;
