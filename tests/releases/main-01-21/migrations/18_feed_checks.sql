-- 18: freshness that means the feed. tickets.import_meta says what was last LOADED; a run that
-- finds the newest export byte-identical (most hours) or finds nothing new loads nothing, so
-- its age said nothing about the exporter. tickets.feed_check records every successful check
-- of the bucket, loaded or not, and the newest snapshot stamp ever seen, without touching ticket
-- data. `fleettickets status` and `ingest --max-age-hours` both measure the age of that stamp.

CREATE TABLE IF NOT EXISTS tickets.feed_check (
    dataset     text PRIMARY KEY,
    checked_at  timestamptz,          -- the last successful run against the bucket
    outcome     text,                 -- what it did: ingested, unchanged, no-snapshot, stale
    newest_key  text,                 -- the newest snapshot seen so far (bucket key or file)
    newest_at   timestamptz           -- its EAT stamp: the exporter's last sign of life
);

-- A database that ingested before this migration: its last load is its last check.
INSERT INTO tickets.feed_check (dataset, checked_at, outcome, newest_key, newest_at)
SELECT dataset, ingested_at, 'ingested', source_key, snapshot_at FROM tickets.import_meta
ON CONFLICT (dataset) DO NOTHING;

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

CREATE OR REPLACE FUNCTION reporting.fn_pipeline_status() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'last_check', (SELECT jsonb_build_object('checked_at', c.checked_at, 'outcome', c.outcome,
                                                 'age_hours', round((extract(epoch FROM now() - c.checked_at)
                                                                     / 3600)::numeric, 2))
                         FROM tickets.feed_check c WHERE c.dataset = 'inc' AND c.checked_at IS NOT NULL),
        'newest_snapshot', (SELECT jsonb_build_object('key', c.newest_key, 'snapshot_at', c.newest_at,
                                                      'age_hours', round((extract(epoch FROM now() - c.newest_at)
                                                                          / 3600)::numeric, 2))
                              FROM tickets.feed_check c WHERE c.dataset = 'inc' AND c.newest_at IS NOT NULL),
        'last_ingest', (SELECT jsonb_build_object('source_key', m.source_key, 'snapshot_at', m.snapshot_at,
                                                  'ingested_at', m.ingested_at,
                                                  'age_hours', round((extract(epoch FROM now() - m.ingested_at)
                                                                      / 3600)::numeric, 2)) || m.metadata
                          FROM tickets.import_meta m WHERE m.dataset = 'inc'),
        'tickets', (SELECT jsonb_build_object('total', count(*),
                                              'open', count(*) FILTER (WHERE is_actionable),
                                              'closed', count(*) FILTER (WHERE NOT is_actionable))
                      FROM tickets.inc),
        'positions', (SELECT coalesce(jsonb_object_agg(geo_source, n), '{}'::jsonb)
                        FROM (SELECT geo_source, count(*) AS n FROM tickets.inc GROUP BY 1) p),
        'gazetteer', (SELECT coalesce(jsonb_object_agg(kind, by_status), '{}'::jsonb)
                        FROM (SELECT kind, jsonb_object_agg(status, n) || jsonb_build_object('unverified', sum(u))
                                     AS by_status
                                FROM (SELECT kind, status, count(*) AS n, count(*) FILTER (WHERE NOT verified) AS u
                                        FROM tickets.gazetteer GROUP BY 1, 2) s
                               GROUP BY kind) g),
        'open_by_sla_state', (SELECT coalesce(jsonb_object_agg(sla_state, n), '{}'::jsonb)
                                FROM (SELECT sla_state, count(*) AS n FROM tickets.inc_open_sla GROUP BY 1) s))
$$;
