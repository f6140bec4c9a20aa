-- The ingest's merge step, in SQL. The loader (fleettickets/load.py) calls tickets.begin_inc_stage(),
-- COPYs cleaned rows into the session temp table pg_temp.inc_stage, then calls
-- tickets.merge_inc_stage() in the same transaction:
--   * in-file duplicates: the last occurrence (highest line) of a ticket_id wins;
--   * rows whose raw did not change never reach the INSERT: no new row version, no trigger,
--     ingested_at untouched;
--   * rows absent from the file are never deleted;
--   * each change is also an event (tickets.inc_events), and the day observed is refreshed in the
--     daily backlog.
-- And the freshness records: what was last loaded, and what the last check of the bucket saw.

CREATE OR REPLACE FUNCTION tickets.begin_inc_stage() RETURNS void
LANGUAGE sql AS $$
    CREATE TEMP TABLE IF NOT EXISTS inc_stage (line integer NOT NULL, ticket_id text NOT NULL, raw jsonb NOT NULL)
        ON COMMIT DROP;
$$;


-- The bodies name the loader's temp table, which exists only inside an ingest transaction.
SET LOCAL check_function_bodies = off;

-- The staged rows that would change tickets.inc: newest occurrence per ticket, raw differs.
CREATE OR REPLACE FUNCTION tickets.inc_stage_changes()
RETURNS TABLE (ticket_id text, raw jsonb, old_raw jsonb)
LANGUAGE sql STABLE AS $$
    SELECT s.ticket_id, s.raw, i.raw
      FROM pg_temp.inc_stage s
      LEFT JOIN tickets.inc i ON i.ticket_id = s.ticket_id
     WHERE NOT EXISTS (SELECT 1 FROM pg_temp.inc_stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
       AND i.raw IS DISTINCT FROM s.raw
$$;

-- p_apply = false counts what an apply would do and writes nothing (the dry run).
CREATE OR REPLACE FUNCTION tickets.merge_inc_stage(
    p_apply boolean, p_source_key text DEFAULT NULL, p_observed_at timestamptz DEFAULT NULL,
    p_history boolean DEFAULT true,
    OUT rows_staged bigint, OUT tickets bigint, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint,
    OUT events bigint)
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    observed constant timestamptz := coalesce(p_observed_at, now());
BEGIN
    ANALYZE pg_temp.inc_stage;   -- temp tables are never auto-analysed; the joins need the row count
    SELECT count(*), count(DISTINCT s.ticket_id) INTO rows_staged, tickets FROM pg_temp.inc_stage s;
    events := 0;
    IF NOT p_apply THEN
        SELECT count(*) FILTER (WHERE c.old_raw IS NULL), count(*) FILTER (WHERE c.old_raw IS NOT NULL)
          INTO inserted, updated FROM tickets.inc_stage_changes() c;
        unchanged := tickets - inserted - updated;
        RETURN;
    END IF;
    -- positions are resolved here, set-based; the per-row trigger stands aside meanwhile
    PERFORM set_config('fleettickets.geom_resolved', 'on', true);
    WITH changes AS MATERIALIZED (
        SELECT * FROM tickets.inc_stage_changes()
    ), history AS (
        INSERT INTO tickets.inc_events (ticket_id, observed_at, source_key, kind, old_status, new_status, is_open,
                                        changed)
        SELECT c.ticket_id, observed, p_source_key, e.*
          FROM changes c CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e
         WHERE p_history
        RETURNING 1
    ), up AS (
        INSERT INTO tickets.inc AS t (ticket_id, raw, geom, geo_source)
        SELECT c.ticket_id, c.raw, r.geom, r.geo_source
          FROM changes c CROSS JOIN LATERAL tickets.resolve_geom(c.raw) r
        ON CONFLICT (ticket_id) DO UPDATE
            SET raw = EXCLUDED.raw, geom = EXCLUDED.geom, geo_source = EXCLUDED.geo_source, ingested_at = now()
            WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
        RETURNING (t.xmax = 0) AS is_new
    )
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new), (SELECT count(*) FROM history)
      INTO inserted, updated, events FROM up;
    PERFORM set_config('fleettickets.geom_resolved', 'off', true);
    unchanged := tickets - inserted - updated;
    IF p_history THEN
        PERFORM reporting.keep_daily_backlog((observed AT TIME ZONE 'Africa/Nairobi')::date);
    END IF;
END $$;

-- Freshness: one row per dataset, replaced by every successful run.
CREATE OR REPLACE FUNCTION tickets.record_import(
    p_dataset text, p_source_key text, p_snapshot_at timestamptz, p_metadata jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.import_meta (dataset, source_key, snapshot_at, ingested_at, metadata)
    VALUES (p_dataset, p_source_key, p_snapshot_at, now(), p_metadata)
    ON CONFLICT (dataset) DO UPDATE
        SET source_key = EXCLUDED.source_key, snapshot_at = EXCLUDED.snapshot_at,
            ingested_at = EXCLUDED.ingested_at, metadata = EXCLUDED.metadata;
$$;

-- Record a check (p_outcome not NULL) and/or a snapshot seen; the newest stamp never goes back.
-- Returns the newest stamp known afterwards.
CREATE OR REPLACE FUNCTION tickets.record_check(
    p_dataset text, p_outcome text, p_key text, p_stamp timestamptz) RETURNS timestamptz
LANGUAGE sql AS $$
    INSERT INTO tickets.feed_check AS f (dataset, checked_at, outcome, newest_key, newest_at)
    VALUES (p_dataset, CASE WHEN p_outcome IS NOT NULL THEN now() END, p_outcome, p_key, p_stamp)
    ON CONFLICT (dataset) DO UPDATE
        SET checked_at = CASE WHEN p_outcome IS NOT NULL THEN now() ELSE f.checked_at END,
            outcome = coalesce(p_outcome, f.outcome),
            newest_key = CASE WHEN f.newest_at IS NULL OR p_stamp > f.newest_at THEN coalesce(p_key, f.newest_key)
                              ELSE f.newest_key END,
            newest_at = greatest(f.newest_at, p_stamp)
    RETURNING newest_at
$$;

-- The snapshot a check refused as stamped in the future (NULLs: none), for the status document.
CREATE OR REPLACE FUNCTION tickets.record_future(p_dataset text, p_key text, p_stamp timestamptz) RETURNS void
LANGUAGE sql AS $$
    UPDATE tickets.feed_check SET future_key = p_key, future_at = p_stamp WHERE dataset = p_dataset
$$;
