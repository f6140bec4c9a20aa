-- What an operator asks every morning, as one jsonb document (fleettickets status reads it): per
-- dataset, the last check of the bucket, the newest file seen and the last file loaded; the last
-- files applied (the load history); INC's tickets open/closed, positions by precision, the
-- gazetteers, and open tickets by SLA state. INC's freshness is also at the top level, as before
-- CRQ was loaded.

-- One dataset's freshness: last_check, newest_snapshot (the newest file of either kind: the
-- exporter's last sign of life), future_snapshot (refused: stamped ahead of the clock), last_ingest.
CREATE OR REPLACE FUNCTION tickets.dataset_status(p_dataset text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'last_check', (SELECT jsonb_build_object('checked_at', c.checked_at, 'outcome', c.outcome,
                                                 'age_hours', round(tickets.hours_since(c.checked_at), 2))
                         FROM tickets.feed_check c WHERE c.dataset = p_dataset AND c.checked_at IS NOT NULL),
        'newest_snapshot', (SELECT jsonb_build_object('key', c.newest_key, 'snapshot_at', c.newest_at,
                                                      'age_hours', round(tickets.hours_since(c.newest_at), 2))
                              FROM tickets.feed_check c WHERE c.dataset = p_dataset AND c.newest_at IS NOT NULL),
        'future_snapshot', (SELECT jsonb_build_object('key', c.future_key, 'snapshot_at', c.future_at)
                              FROM tickets.feed_check c WHERE c.dataset = p_dataset AND c.future_at IS NOT NULL),
        'last_ingest', (SELECT jsonb_build_object('source_key', m.source_key, 'snapshot_at', m.snapshot_at,
                                                  'ingested_at', m.ingested_at,
                                                  'age_hours', round(tickets.hours_since(m.ingested_at), 2)) || m.metadata
                          FROM tickets.import_meta m WHERE m.dataset = p_dataset))
$$;

CREATE OR REPLACE FUNCTION reporting.fn_pipeline_status() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT tickets.dataset_status('inc') || jsonb_build_object(
        'datasets', (SELECT coalesce(jsonb_object_agg(d, tickets.dataset_status(d)), '{}'::jsonb)
                       FROM (SELECT dataset FROM tickets.feed_check UNION SELECT dataset FROM tickets.import_meta
                             UNION SELECT 'inc') ds (d)),
        'last_files', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'dataset', l.dataset, 'kind', l.kind, 'key', l.source_key, 'outcome', l.outcome,
                                  'loaded_at', l.loaded_at, 'archived', l.archived_at IS NOT NULL,
                                  'inserted', l.counts -> 'inserted', 'updated', l.counts -> 'updated',
                                  'stale', l.counts -> 'stale') ORDER BY l.load_id DESC), '[]'::jsonb)
                         FROM (SELECT * FROM tickets.loads ORDER BY load_id DESC LIMIT 5) l),
        'tickets', (SELECT jsonb_build_object('total', count(*),
                                              'open', count(*) FILTER (WHERE is_actionable),
                                              'closed', count(*) FILTER (WHERE NOT is_actionable))
                      FROM tickets.inc),
        'crq_tickets', (SELECT count(*) FROM tickets.crq),
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
