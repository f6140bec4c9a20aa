-- 09: fn_tickets_for_map over the typed columns (same signature, dashboard_api unchanged).
-- Feature properties are the ticket's typed fields (timestamps as ISO UTC, mttr in minutes,
-- latitude/longitude, geo_source); coordinates are [lng, lat] as GeoJSON requires.
-- summary: counts for the selection, positions by precision, and freshness.

CREATE OR REPLACE FUNCTION reporting.fn_tickets_for_map(p_open_only boolean DEFAULT true) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH t AS (
        SELECT * FROM tickets.inc i WHERE NOT p_open_only OR i.is_actionable
    )
    SELECT jsonb_build_object(
        'type', 'FeatureCollection',
        'features', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'type', 'Feature',
                       'id', t.ticket_id,
                       'geometry', jsonb_build_object('type', 'Point',
                                                      'coordinates', jsonb_build_array(ST_X(t.geom), ST_Y(t.geom))),
                       'properties', to_jsonb(t) - '{raw,geom,geog}'::text[]
                   ) ORDER BY t.ticket_id)
              FROM t WHERE t.geom IS NOT NULL), '[]'::jsonb),
        'summary', jsonb_build_object(
            'open_only', p_open_only,
            'tickets', (SELECT count(*) FROM t),
            'geocoded', (SELECT count(*) FROM t WHERE t.geom IS NOT NULL),
            'by_geo_source', (SELECT coalesce(jsonb_object_agg(g.geo_source, g.n), '{}'::jsonb)
                                FROM (SELECT t.geo_source, count(*) AS n FROM t GROUP BY 1) g),
            'freshness', (SELECT jsonb_build_object('source_key', m.source_key,
                                                    'snapshot_at', m.snapshot_at,
                                                    'ingested_at', m.ingested_at) || m.metadata
                            FROM tickets.import_meta m WHERE m.dataset = 'inc')))
$$;
