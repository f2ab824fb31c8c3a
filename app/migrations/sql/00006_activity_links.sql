-- +goose Up
-- The contact and deal pages list their activities newest first
-- (GET /activities?contact_id=&sort=-updated, ?opportunity_id=): without
-- these the planner walks activities_updated across every activity.
CREATE INDEX activities_contact ON activities (contact_id, updated_at, id);
CREATE INDEX activities_opportunity ON activities (opportunity_id, updated_at, id);

-- +goose Down
DROP INDEX activities_opportunity, activities_contact;
