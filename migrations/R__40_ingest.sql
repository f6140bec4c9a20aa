-- The ingest's merge step, in SQL, for every dataset's table (tickets.inc, tickets.crq). The loader
-- (fleettickets/load.py) calls tickets.begin_stage(), COPYs one file's cleaned rows into the
-- session temp table pg_temp.stage, then calls tickets.merge_stage() in the same transaction:
--   * in-file duplicates: the last occurrence (highest line) of a ticket_id wins;
--   * rows whose raw did not change never reach the INSERT: no new row version, ingested_at untouched;
--   * a row older than the stored one (tickets.older_than_stored) is not written: it is `stale`;
--   * rows absent from the file are never deleted;
--   * INC only: each change is also an event (tickets.inc_events), and the day observed is
--     refreshed in the daily backlog when the caller asks (the last file of that day in a run).
-- And the freshness records: what was last loaded, the load history, and what the last check of
-- the bucket saw.

CREATE OR REPLACE FUNCTION tickets.begin_stage() RETURNS void
LANGUAGE sql AS $$
    CREATE TEMP TABLE IF NOT EXISTS stage (line integer NOT NULL, ticket_id text NOT NULL, raw jsonb NOT NULL)
        ON COMMIT DROP;
$$;

-- The version rule (CONTRACT 1b), in one place: an incoming row (raw, its file's stamp) is older
-- than the stored one (its typed updated_at, its file's stamp) when its version, updated_at else the
-- stamp, is lower, or equal from an older file (a late file never wins a tie). A stored row
-- written before the rule has no stamp: when it was ingested stands in. Nothing stored: never older.
CREATE OR REPLACE FUNCTION tickets.older_than_stored(p_raw jsonb, p_stamp timestamptz, p_stored_updated timestamptz,
                                                     p_stored_stamp timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_stored_stamp IS NOT NULL
       AND (coalesce(tickets.eat_ts(p_raw ->> 'updated_at'), p_stamp), p_stamp)
           < (coalesce(p_stored_updated, p_stored_stamp), p_stored_stamp)
$$;

-- The bodies name the loader's temp table, which exists only inside an ingest transaction.
SET LOCAL check_function_bodies = off;

-- p_apply = false counts what an apply would do and writes nothing (the dry run). p_stamp: the
-- file's stamp (NULL: now, for a local file named otherwise), which is also when its events were
-- observed.
CREATE OR REPLACE FUNCTION tickets.merge_stage(
    p_table text, p_apply boolean, p_source_key text DEFAULT NULL, p_stamp timestamptz DEFAULT NULL,
    p_history boolean DEFAULT true, p_backlog boolean DEFAULT true,
    OUT rows_staged bigint, OUT tickets bigint, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint,
    OUT stale bigint, OUT events bigint)
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    stamp constant timestamptz := coalesce(p_stamp, now());
    history constant boolean := p_history AND p_table = 'inc';  -- the event history is INC's
BEGIN
    IF p_table NOT IN ('inc', 'crq') THEN
        RAISE EXCEPTION 'tickets.merge_stage: % is not a dataset''s table', p_table;
    END IF;
    ANALYZE pg_temp.stage;   -- temp tables are never auto-analysed; the joins need the row count
    SELECT count(*), count(DISTINCT s.ticket_id) INTO rows_staged, tickets FROM pg_temp.stage s;
    -- positions are resolved here, set-based; the per-row trigger stands aside meanwhile
    PERFORM set_config('fleettickets.geom_resolved', 'on', true);
    EXECUTE format($sql$
        WITH changes AS MATERIALIZED (  -- the staged rows that differ from the stored ones
            SELECT s.ticket_id, s.raw, t.raw AS old_raw,
                   tickets.older_than_stored(s.raw, $1, t.source_updated_at, coalesce(t.row_stamp, t.ingested_at))
                       AS stale
              FROM pg_temp.stage s
              LEFT JOIN tickets.%1$I t ON t.ticket_id = s.ticket_id
             WHERE NOT EXISTS (SELECT 1 FROM pg_temp.stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
               AND t.raw IS DISTINCT FROM s.raw
        ), history AS (
            INSERT INTO tickets.inc_events (ticket_id, observed_at, source_key, kind, old_status, new_status, is_open,
                                            changed)
            SELECT c.ticket_id, $1, $2, e.*
              FROM changes c CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e
             WHERE $3 AND $4 AND NOT c.stale
            RETURNING 1
        ), up AS (
            INSERT INTO tickets.%1$I AS t (ticket_id, raw, geom, geo_source, row_stamp)
            SELECT c.ticket_id, c.raw, r.geom, r.geo_source, $1
              FROM changes c CROSS JOIN LATERAL tickets.resolve_geom(c.raw) r
             WHERE $4 AND NOT c.stale
            ON CONFLICT (ticket_id) DO UPDATE
                SET raw = EXCLUDED.raw, geom = EXCLUDED.geom, geo_source = EXCLUDED.geo_source,
                    row_stamp = EXCLUDED.row_stamp, ingested_at = now()
                WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
        )  -- (a data-modifying WITH runs whether or not it is read)
        SELECT count(*) FILTER (WHERE c.old_raw IS NULL AND NOT c.stale),
               count(*) FILTER (WHERE c.old_raw IS NOT NULL AND NOT c.stale),
               count(*) FILTER (WHERE c.stale),
               (SELECT count(*) FROM history)
          FROM changes c
    $sql$, p_table) USING stamp, p_source_key, history, p_apply INTO inserted, updated, stale, events;
    PERFORM set_config('fleettickets.geom_resolved', 'off', true);
    unchanged := tickets - inserted - updated - stale;
    IF p_apply AND history AND p_backlog THEN
        PERFORM reporting.keep_daily_backlog((stamp AT TIME ZONE 'Africa/Nairobi')::date);
    END IF;
END $$;

-- Freshness: one row per dataset, replaced by every file a run applies.
CREATE OR REPLACE FUNCTION tickets.record_import(
    p_dataset text, p_source_key text, p_snapshot_at timestamptz, p_metadata jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.import_meta (dataset, source_key, snapshot_at, ingested_at, metadata)
    VALUES (p_dataset, p_source_key, p_snapshot_at, now(), p_metadata)
    ON CONFLICT (dataset) DO UPDATE
        SET source_key = EXCLUDED.source_key, snapshot_at = EXCLUDED.snapshot_at,
            ingested_at = EXCLUDED.ingested_at, metadata = EXCLUDED.metadata;
$$;

-- Record a check (p_outcome not NULL) and/or a file seen; the newest stamp never goes back.
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

-- The file a check refused as stamped in the future (NULLs: none), for the status document.
CREATE OR REPLACE FUNCTION tickets.record_future(p_dataset text, p_key text, p_stamp timestamptz) RETURNS void
LANGUAGE sql AS $$
    UPDATE tickets.feed_check SET future_key = p_key, future_at = p_stamp WHERE dataset = p_dataset
$$;
