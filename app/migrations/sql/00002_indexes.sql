-- +goose Up
-- Indexes for keyset paging (sort key, id), filters, full-text search and
-- the reports. Separate from the schema so that `crm seed` can load the
-- tables first and build these afterwards, which is several times faster.
CREATE INDEX accounts_name ON accounts (name, id);
CREATE INDEX accounts_updated ON accounts (updated_at, id);
CREATE INDEX accounts_owner ON accounts (owner_id, updated_at, id);
CREATE INDEX accounts_search ON accounts USING gin (search);

CREATE INDEX contacts_name ON contacts (last_name, id);
CREATE INDEX contacts_updated ON contacts (updated_at, id);
CREATE INDEX contacts_owner ON contacts (owner_id, updated_at, id);
CREATE INDEX contacts_account ON contacts (account_id, updated_at);
CREATE INDEX contacts_search ON contacts USING gin (search);

CREATE INDEX leads_name ON leads (last_name, id);
CREATE INDEX leads_updated ON leads (updated_at, id);
CREATE INDEX leads_owner ON leads (owner_id, updated_at, id);
CREATE INDEX leads_search ON leads USING gin (search);

CREATE INDEX opportunities_name ON opportunities (name, id);
CREATE INDEX opportunities_updated ON opportunities (updated_at, id);
CREATE INDEX opportunities_amount ON opportunities (amount, id);
CREATE INDEX opportunities_owner ON opportunities (owner_id, updated_at, id);
CREATE INDEX opportunities_account ON opportunities (account_id, updated_at);
CREATE INDEX opportunities_stage ON opportunities (stage) INCLUDE (amount);

CREATE INDEX activities_name ON activities (subject, id);
CREATE INDEX activities_updated ON activities (updated_at, id);
CREATE INDEX activities_owner ON activities (owner_id, updated_at, id);
CREATE INDEX activities_account ON activities (account_id, updated_at);
CREATE INDEX activities_created ON activities (created_at);
CREATE INDEX activities_search ON activities USING gin (search);

-- +goose Down
DROP INDEX accounts_name, accounts_updated, accounts_owner, accounts_search,
    contacts_name, contacts_updated, contacts_owner, contacts_account, contacts_search,
    leads_name, leads_updated, leads_owner, leads_search,
    opportunities_name, opportunities_updated, opportunities_amount, opportunities_owner,
    opportunities_account, opportunities_stage,
    activities_name, activities_updated, activities_owner, activities_account, activities_created, activities_search;
