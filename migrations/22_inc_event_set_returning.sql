-- 22: tickets.inc_event becomes a set-returning function (one row), so the planner inlines it into
-- the merge's and the replay's INSERT (R__30_history.sql). Its result type changes, which
-- CREATE OR REPLACE cannot do: the old one goes here, once.

DROP FUNCTION IF EXISTS tickets.inc_event(jsonb, jsonb);
