-- +goose Up
-- A converted lead is kept, with status converted (POST /leads/{id}/convert).
ALTER TABLE leads DROP CONSTRAINT leads_status_check,
    ADD CONSTRAINT leads_status_check CHECK (status IN ('new', 'contacted', 'qualified', 'disqualified', 'converted'));

-- +goose Down
UPDATE leads SET status = 'qualified' WHERE status = 'converted';
ALTER TABLE leads DROP CONSTRAINT leads_status_check,
    ADD CONSTRAINT leads_status_check CHECK (status IN ('new', 'contacted', 'qualified', 'disqualified'));
