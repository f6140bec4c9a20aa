-- 10: the ingest's merge step, in SQL. The loader (fleettickets/load.py) calls
-- tickets.begin_inc_stage(), COPYs cleaned rows into the session temp table pg_temp.inc_stage,
-- then calls tickets.merge_inc_stage() in the same transaction:
--   * in-file duplicates: the last occurrence (highest line) of a ticket_id wins;
--   * rows whose raw did not change never reach the INSERT: no new row version, no trigger,
--     ingested_at untouched;
--   * rows absent from the file are never deleted.

-- The merge and its helpers today: R__40_ingest.sql.
