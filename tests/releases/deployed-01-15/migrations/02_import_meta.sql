-- 02: snapshot freshness. One row per dataset ('inc'): which file was ingested last, its ETag
-- (metadata->>'source_etag', the skip-if-unchanged key), its stamp and the run's counts.
-- fn_tickets_for_map keeps its signature and exposes the row as summary.freshness.

CREATE TABLE IF NOT EXISTS tickets.import_meta (
    dataset      text PRIMARY KEY,
    source_key   text,
    snapshot_at  timestamptz,             -- the file name's EAT stamp
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE OR REPLACE FUNCTION reporting.fn_tickets_for_map(p_open_only boolean DEFAULT true) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH t AS (
        SELECT * FROM tickets.inc
         WHERE NOT p_open_only OR lower(raw ->> 'is_actionable') IN ('true', 't', '1', 'yes')
    )
    SELECT jsonb_build_object(
        'type', 'FeatureCollection',
        'features', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'type', 'Feature',
                       'id', ticket_id,
                       'geometry', jsonb_build_object('type', 'Point',
                                                      'coordinates', jsonb_build_array(ST_X(geom), ST_Y(geom))),
                       'properties', raw || jsonb_build_object('geo_source', geo_source)
                   ) ORDER BY ticket_id)
              FROM t WHERE geom IS NOT NULL), '[]'::jsonb),
        'summary', jsonb_build_object(
            'tickets', (SELECT count(*) FROM t),
            'geocoded', (SELECT count(*) FROM t WHERE geom IS NOT NULL),
            'freshness', (SELECT jsonb_build_object('source_key', m.source_key,
                                                    'snapshot_at', m.snapshot_at,
                                                    'ingested_at', m.ingested_at) || m.metadata
                            FROM tickets.import_meta m WHERE m.dataset = 'inc')))
$$;
