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

-- The version rule (CONTRACT 1b), in one place. A row's version is its updated_at, else the stamp
-- of the file it came in; an updated_at more than an hour ahead of its file's stamp (the tolerance
-- of fleettickets.snapshot.FUTURE_TOLERANCE for the stamps themselves) is not believed: it counts as
-- that hour, so a clock error or a typo (2062) cannot freeze a ticket for ever.
CREATE OR REPLACE FUNCTION tickets.row_version(p_updated timestamptz, p_stamp timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(coalesce(p_updated, p_stamp), p_stamp + interval '1 hour')
$$;

-- An incoming row (its updated_at, its file's stamp) is older than the stored one when its version
-- is lower, or equal from an older file (a late file never wins a tie). A stored row written before
-- the rule has no stamp: when it was ingested stands in. Nothing stored: never older.
CREATE OR REPLACE FUNCTION tickets.older_than_stored(p_updated timestamptz, p_stamp timestamptz,
                                                     p_stored_updated timestamptz, p_stored_stamp timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_stored_stamp IS NOT NULL
       AND (tickets.row_version(p_updated, p_stamp), p_stamp)
           < (tickets.row_version(p_stored_updated, p_stored_stamp), p_stored_stamp)
$$;

-- A file that carries the stored row unchanged confirms it at its own stamp. Where the row's
-- version is its stamp (no updated_at), the confirmation must move the stamp on, or a late file
-- stamped in between would pass for newer and roll the ticket back.
CREATE OR REPLACE FUNCTION tickets.confirms_stamp(p_stored_updated timestamptz, p_stored_stamp timestamptz,
                                                  p_stamp timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT tickets.row_version(p_stored_updated, p_stamp) > tickets.row_version(p_stored_updated, p_stored_stamp)
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
    history constant boolean := p_history;  -- the dataset's (fleettickets.datasets): INC's only
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
                   tickets.older_than_stored(tickets.eat_ts(s.raw ->> 'updated_at'), $1, t.source_updated_at,
                                             coalesce(t.row_stamp, t.ingested_at)) AS stale
              FROM pg_temp.stage s
              LEFT JOIN tickets.%1$I t ON t.ticket_id = s.ticket_id
             WHERE NOT EXISTS (SELECT 1 FROM pg_temp.stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
               AND t.raw IS DISTINCT FROM s.raw
        ), confirmed AS (  -- the stored rows the file carries unchanged, where that moves their version on
            UPDATE tickets.%1$I t SET row_stamp = $1
              FROM pg_temp.stage s
             WHERE $4 AND t.ticket_id = s.ticket_id
               AND tickets.confirms_stamp(t.source_updated_at, coalesce(t.row_stamp, t.ingested_at), $1)
               AND t.raw = s.raw
               AND NOT EXISTS (SELECT 1 FROM pg_temp.stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
        ), history AS (
            INSERT INTO tickets.inc_events (ticket_id, observed_at, source_key, kind, old_status, new_status, is_open,
                                            changed)
            SELECT c.ticket_id, $1, $2, e.*
              FROM changes c CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e
             WHERE $3 AND $4 AND NOT c.stale
            RETURNING 1
        ), new_rows AS (  -- new tickets (the conflict clause only for safety: the run holds the lock)
            INSERT INTO tickets.%1$I AS t (ticket_id, raw, geom, geo_source, row_stamp)
            SELECT c.ticket_id, c.raw, r.geom, r.geo_source, $1
              FROM changes c CROSS JOIN LATERAL tickets.resolve_geom(c.raw) r
             WHERE $4 AND NOT c.stale AND c.old_raw IS NULL
            ON CONFLICT (ticket_id) DO UPDATE
                SET raw = EXCLUDED.raw, geom = EXCLUDED.geom, geo_source = EXCLUDED.geo_source,
                    row_stamp = EXCLUDED.row_stamp, ingested_at = now()
                WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
        ), changed_rows AS (  -- changed ones: a plain UPDATE, a fifth cheaper than an upsert's conflict path
            UPDATE tickets.%1$I t
               SET raw = c.raw, geom = r.geom, geo_source = r.geo_source, row_stamp = $1, ingested_at = now()
              FROM changes c CROSS JOIN LATERAL tickets.resolve_geom(c.raw) r
             WHERE $4 AND NOT c.stale AND c.old_raw IS NOT NULL AND t.ticket_id = c.ticket_id
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

-- Freshness: one row per dataset, the last file applied (a change file's counts, most of the time),
-- replaced by every file a run applies except one stamped older than it (a late or rewritten old
-- file): the map's summary.freshness never goes back. A local file named without a stamp replaces it.
CREATE OR REPLACE FUNCTION tickets.record_import(
    p_dataset text, p_source_key text, p_snapshot_at timestamptz, p_metadata jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.import_meta AS m (dataset, source_key, snapshot_at, ingested_at, metadata)
    VALUES (p_dataset, p_source_key, p_snapshot_at, now(), p_metadata)
    ON CONFLICT (dataset) DO UPDATE
        SET source_key = EXCLUDED.source_key, snapshot_at = EXCLUDED.snapshot_at,
            ingested_at = EXCLUDED.ingested_at, metadata = EXCLUDED.metadata
        WHERE EXCLUDED.snapshot_at IS NULL OR m.snapshot_at IS NULL OR EXCLUDED.snapshot_at >= m.snapshot_at;
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

-- The load history (tickets.loads, migration 40; fleettickets/loads.py): which of p_keys it holds, by
-- key and ETag (applied, or skipped as unchanged) ...
CREATE OR REPLACE FUNCTION tickets.loaded_files(p_dataset text, p_keys text[])
RETURNS TABLE (source_key text, etag text)
LANGUAGE sql STABLE AS $$
    SELECT l.source_key, l.etag FROM tickets.loads l WHERE l.dataset = p_dataset AND l.source_key = ANY (p_keys)
$$;

-- ... the ETag of the newest snapshot it holds (a newest snapshot with the same one is unchanged) ...
CREATE OR REPLACE FUNCTION tickets.last_snapshot_etag(p_dataset text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT l.etag FROM tickets.loads l WHERE l.dataset = p_dataset AND l.kind = 'snapshot'
     ORDER BY l.stamp DESC NULLS LAST, l.load_id DESC LIMIT 1
$$;

-- ... the newest stamp among the files it holds applied (a file stamped before it arrives late) ...
CREATE OR REPLACE FUNCTION tickets.newest_applied(p_dataset text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT max(l.stamp) FROM tickets.loads l WHERE l.dataset = p_dataset AND l.outcome = 'applied'
$$;

-- ... a file decided on, in the transaction that applied (or skipped) it ...
CREATE OR REPLACE FUNCTION tickets.record_load(
    p_dataset text, p_kind text, p_key text, p_etag text, p_size bigint, p_stamp timestamptz, p_outcome text,
    p_counts jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.loads (dataset, kind, source_key, etag, size, stamp, outcome, counts)
    VALUES (p_dataset, p_kind, p_key, p_etag, p_size, p_stamp, p_outcome, p_counts)
$$;

-- ... files that reached processed/ ...
CREATE OR REPLACE FUNCTION tickets.mark_archived(p_dataset text, p_keys text[], p_etags text[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE tickets.loads l SET archived_at = now()
      FROM unnest(p_keys, p_etags) AS f (key, etag)
     WHERE l.dataset = p_dataset AND l.source_key = f.key AND l.etag = f.etag AND l.archived_at IS NULL
$$;

-- ... and the history as `fleettickets loads` lists it, newest first.
CREATE OR REPLACE VIEW tickets.load_history AS
SELECT l.load_id, to_char(l.loaded_at AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM-DD HH24:MI:SS') AS loaded_eat,
       l.dataset, l.kind, l.source_key AS file, l.outcome, (l.counts ->> 'rows_kept')::int AS kept,
       (l.counts ->> 'inserted')::int AS inserted, (l.counts ->> 'updated')::int AS updated,
       (l.counts ->> 'unchanged')::int AS unchanged, (l.counts ->> 'stale')::int AS stale,
       CASE WHEN l.kind = 'csv' THEN NULL ELSE l.archived_at IS NOT NULL END AS archived
  FROM tickets.loads l;
