-- 22: SQL the planner can see through. tickets.inc_event becomes a set-returning function (one row),
-- so the planner inlines it into the merge's and the replay's INSERT (R__30_history.sql); its
-- result type changes, which CREATE OR REPLACE cannot do: the old one goes here, once.
-- No query looks tickets up by normalized_status (the map, reports and dispatch filter on
-- is_actionable, cluster and position): its index only cost every upsert. tests/test_sql_plans.py
-- shows the query each remaining index is there for.

DROP FUNCTION IF EXISTS tickets.inc_event(jsonb, jsonb);
DROP INDEX IF EXISTS tickets.inc_normalized_status_hash_idx;
