-- 12: what an operator asks every morning, as one jsonb document (fleettickets status reads it):
-- the last successful ingest, tickets open/closed, positions by precision, the gazetteers, and
-- open tickets by SLA state.

CREATE OR REPLACE FUNCTION reporting.fn_pipeline_status() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
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
