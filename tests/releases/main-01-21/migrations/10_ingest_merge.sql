-- 10: the ingest's merge step, in SQL. The loader (fleettickets/load.py) calls
-- tickets.begin_inc_stage(), COPYs cleaned rows into the session temp table pg_temp.inc_stage,
-- then calls tickets.merge_inc_stage() in the same transaction:
--   * in-file duplicates: the last occurrence (highest line) of a ticket_id wins;
--   * rows whose raw did not change never reach the INSERT: no new row version, no trigger,
--     ingested_at untouched;
--   * rows absent from the file are never deleted.

CREATE OR REPLACE FUNCTION tickets.begin_inc_stage() RETURNS void
LANGUAGE sql AS $$
    CREATE TEMP TABLE IF NOT EXISTS inc_stage (line integer NOT NULL, ticket_id text NOT NULL, raw jsonb NOT NULL)
        ON COMMIT DROP;
$$;

-- The body names the loader's temp table, which exists only inside an ingest transaction.
SET LOCAL check_function_bodies = off;

-- The staged rows that would change tickets.inc: newest occurrence per ticket, raw differs.
CREATE OR REPLACE FUNCTION tickets.inc_stage_changes() RETURNS TABLE (ticket_id text, raw jsonb, is_new boolean)
LANGUAGE sql STABLE AS $$
    SELECT s.ticket_id, s.raw, i.ticket_id IS NULL
      FROM pg_temp.inc_stage s
      LEFT JOIN tickets.inc i ON i.ticket_id = s.ticket_id
     WHERE NOT EXISTS (SELECT 1 FROM pg_temp.inc_stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
       AND i.raw IS DISTINCT FROM s.raw
$$;

-- p_apply = false counts what an apply would do and writes nothing (the dry run).
CREATE OR REPLACE FUNCTION tickets.merge_inc_stage(
    p_apply boolean,
    OUT rows_staged bigint, OUT tickets bigint, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint)
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    ANALYZE pg_temp.inc_stage;   -- temp tables are never auto-analysed; the joins need the row count
    SELECT count(*), count(DISTINCT s.ticket_id) INTO rows_staged, tickets FROM pg_temp.inc_stage s;
    IF p_apply THEN
        -- positions are resolved here, set-based; the per-row trigger stands aside meanwhile
        PERFORM set_config('fleettickets.geom_resolved', 'on', true);
        WITH up AS (
            INSERT INTO tickets.inc AS t (ticket_id, raw, geom, geo_source)
            SELECT c.ticket_id, c.raw, r.geom, r.geo_source
              FROM tickets.inc_stage_changes() c CROSS JOIN LATERAL tickets.resolve_geom(c.raw) r
            ON CONFLICT (ticket_id) DO UPDATE
                SET raw = EXCLUDED.raw, geom = EXCLUDED.geom, geo_source = EXCLUDED.geo_source, ingested_at = now()
                WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
            RETURNING (t.xmax = 0) AS is_new
        )
        SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new)
          INTO inserted, updated FROM up;
        PERFORM set_config('fleettickets.geom_resolved', 'off', true);
    ELSE
        SELECT count(*) FILTER (WHERE c.is_new), count(*) FILTER (WHERE NOT c.is_new)
          INTO inserted, updated FROM tickets.inc_stage_changes() c;
    END IF;
    unchanged := tickets - inserted - updated;
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
