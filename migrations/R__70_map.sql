-- The map payloads (fn_tickets_for_map, the zoomed-out fn_tickets_for_map_by_position) and the map
-- layer they read (reporting.inc_map). Their composite types are in migrations 20 and 23.

-- A moment as the payloads write it: UTC, whole seconds, 'Z' (never the session's offset).
CREATE OR REPLACE FUNCTION reporting.utc_text(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

-- The map layer: one row per ticket with what the map shows. ticket_id comes first because QGIS
-- takes a view's first column as its key; only geom (no geog), so GDAL opens it without a quirk.
CREATE OR REPLACE VIEW reporting.inc_map AS
SELECT ticket_id,
       is_actionable AS is_open,
       normalized_status,
       cluster,
       location_name,
       assigned_team,
       reporting.sla_state(is_actionable, tickets.sla_clock(created_at_service, first_seen_at)) AS sla_state,
       CASE WHEN is_actionable THEN
           round(tickets.hours_since(tickets.sla_clock(created_at_service, first_seen_at)), 1)
       END AS hours_open,
       closed_at,
       geo_source,
       geom,
       owner  -- last: CREATE OR REPLACE VIEW can only add a column at the end
  FROM tickets.inc;

-- The map's arguments, checked once before any row is read: the box as a geometry and the
-- oldest closure shown (NULL: no limit).
CREATE OR REPLACE FUNCTION reporting.map_args(p_bbox double precision[], p_closed_within_days integer,
                                              OUT box geometry, OUT closed_since timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_closed_within_days < 0 THEN
        RAISE EXCEPTION 'p_closed_within_days must be 0 or more, not %', p_closed_within_days;
    END IF;
    closed_since := now() - make_interval(days => p_closed_within_days);
    IF p_bbox IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(p_bbox) <> 4 OR array_position(p_bbox, NULL) IS NOT NULL
       OR NOT (tickets.is_position(ST_MakePoint(p_bbox[1], p_bbox[2]))
               AND tickets.is_position(ST_MakePoint(p_bbox[3], p_bbox[4])))
       OR p_bbox[1] > p_bbox[3] OR p_bbox[2] > p_bbox[4] THEN
        RAISE EXCEPTION 'p_bbox must be ARRAY[west, south, east, north] in degrees, not %', p_bbox;
    END IF;
    box := ST_MakeEnvelope(p_bbox[1], p_bbox[2], p_bbox[3], p_bbox[4], 4326);
END $$;

-- The tickets a map call selects (inlined into its callers): the open ones from the partial index,
-- then, unless p_open_only, the others.
CREATE OR REPLACE FUNCTION reporting.map_tickets(p_open_only boolean, p_bbox double precision[],
                                                 p_closed_within_days integer)
RETURNS SETOF reporting.inc_map LANGUAGE sql STABLE AS $$
    SELECT m.*
      FROM reporting.map_args(p_bbox, p_closed_within_days) a, reporting.inc_map m
     WHERE m.is_open AND (a.box IS NULL OR m.geom && a.box)
    UNION ALL
    SELECT m.*
      FROM reporting.map_args(p_bbox, p_closed_within_days) a, reporting.inc_map m
     WHERE NOT p_open_only AND m.is_open IS NOT TRUE
       AND (a.closed_since IS NULL OR m.closed_at >= a.closed_since) AND (a.box IS NULL OR m.geom && a.box)
$$;

-- The summary of a map call: its arguments, the tickets selected, how many have a point, their
-- positions by precision (the values present only) and the freshness of the data: the last load
-- (import_meta) and, since byte-identical exports load nothing, the last successful check of the
-- bucket and the newest snapshot stamp seen (feed_check, as `fleettickets status` reports them).
CREATE OR REPLACE FUNCTION reporting.map_summary(
    p_open_only boolean, p_bbox double precision[], p_closed_within_days integer,
    p_tickets bigint, p_geocoded bigint, p_by_geo_source jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'open_only', p_open_only,
        'bbox', p_bbox,
        'closed_within_days', p_closed_within_days,
        'tickets', coalesce(p_tickets, 0),
        'geocoded', coalesce(p_geocoded, 0),
        'by_geo_source', (SELECT coalesce(jsonb_object_agg(s.key, s.value), '{}'::jsonb)
                            FROM jsonb_each(p_by_geo_source) s WHERE s.value::text NOT IN ('0', 'null')),
        'freshness', (SELECT jsonb_build_object('source_key', m.source_key,
                                                'snapshot_at', reporting.utc_text(m.snapshot_at),
                                                'ingested_at', reporting.utc_text(m.ingested_at))
                             || coalesce(m.metadata, '{}')
                             || jsonb_build_object('checked_at', reporting.utc_text(c.checked_at),
                                                   'newest_snapshot_key', c.newest_key,
                                                   'newest_snapshot_at', reporting.utc_text(c.newest_at))
                        FROM (VALUES ('inc')) d (dataset)
                        LEFT JOIN tickets.import_meta m USING (dataset)
                        LEFT JOIN tickets.feed_check c USING (dataset)
                       WHERE m.dataset IS NOT NULL OR c.dataset IS NOT NULL))
$$;

-- One feature per geocoded ticket, ordered by ticket_id. Properties: ticket_id (also the feature's
-- id: GL map libraries keep a string id only as a promoteId property), normalized_status, cluster,
-- location_name, assigned_team, owner, sla_state, hours_open, closed_at, geo_source (README: Querying).
-- Their composite types: migration 20, the ticket properties as migration 23 redefined them.
CREATE OR REPLACE FUNCTION reporting.fn_tickets_for_map(
    p_open_only boolean DEFAULT true,
    p_bbox double precision[] DEFAULT NULL,       -- ARRAY[west, south, east, north]
    p_closed_within_days integer DEFAULT NULL)    -- closed tickets: only those closed this recently
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(ROW(
        'FeatureCollection',
        coalesce(array_agg(ROW('Feature', t.ticket_id,
                               ROW('Point', ARRAY[ST_X(t.geom), ST_Y(t.geom)])::reporting.map_point,
                               ROW(t.ticket_id, t.normalized_status, t.cluster, t.location_name, t.assigned_team,
                                   t.owner, t.sla_state, t.hours_open, reporting.utc_text(t.closed_at), t.geo_source
                               )::reporting.map_ticket_properties)::reporting.map_ticket_feature
                           ORDER BY t.ticket_id) FILTER (WHERE t.geom IS NOT NULL), '{}'),
        reporting.map_summary(p_open_only, p_bbox, p_closed_within_days, count(*), count(t.geom),
                              jsonb_build_object('feed', count(*) FILTER (WHERE t.geo_source = 'feed'),
                                                 'location', count(*) FILTER (WHERE t.geo_source = 'location'),
                                                 'cluster', count(*) FILTER (WHERE t.geo_source = 'cluster'),
                                                 'none', count(*) FILTER (WHERE t.geo_source = 'none')))
        )::reporting.map_tickets_collection)
      FROM reporting.map_tickets(p_open_only, p_bbox, p_closed_within_days) t
$$ SET jit = off;  -- the closed tickets' branch, even when skipped, costs enough to trigger a 40 ms JIT

-- The zoomed-out map: one feature per distinct point, ordered by its id (the point's geohash).
-- Properties: tickets, breached, at_risk, ok, unknown, closed (counts by SLA state), cluster and
-- geo_source (of the longest-open ticket there), ticket_ids: at most p_max_ids of them, the longest
-- open first (NULL: all). The summary is fn_tickets_for_map's.
CREATE OR REPLACE FUNCTION reporting.fn_tickets_for_map_by_position(
    p_open_only boolean DEFAULT true,
    p_bbox double precision[] DEFAULT NULL,
    p_closed_within_days integer DEFAULT NULL,
    p_max_ids integer DEFAULT 20)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH p AS (
        SELECT t.geom, count(*) AS tickets,
               count(*) FILTER (WHERE t.sla_state = 'breached') AS breached,
               count(*) FILTER (WHERE t.sla_state = 'at_risk') AS at_risk,
               count(*) FILTER (WHERE t.sla_state = 'ok') AS ok,
               count(*) FILTER (WHERE t.sla_state = 'unknown') AS unknown,
               count(*) FILTER (WHERE t.sla_state = 'closed') AS closed,
               count(*) FILTER (WHERE t.geo_source = 'feed') AS feed,
               count(*) FILTER (WHERE t.geo_source = 'location') AS location,
               count(*) FILTER (WHERE t.geo_source = 'cluster') AS cluster_points,
               count(*) FILTER (WHERE t.geo_source = 'none') AS none,
               array_agg(t.ticket_id ORDER BY t.hours_open DESC NULLS LAST, t.ticket_id) AS ids,
               (array_agg(t.cluster ORDER BY t.hours_open DESC NULLS LAST, t.ticket_id))[1] AS cluster,
               (array_agg(t.geo_source ORDER BY t.hours_open DESC NULLS LAST, t.ticket_id))[1] AS geo_source
          FROM reporting.map_tickets(p_open_only, p_bbox, p_closed_within_days) t
         GROUP BY t.geom
    )
    SELECT to_jsonb(ROW(
        'FeatureCollection',
        coalesce(array_agg(ROW('Feature', ST_GeoHash(p.geom, 12),
                               ROW('Point', ARRAY[ST_X(p.geom), ST_Y(p.geom)])::reporting.map_point,
                               ROW(p.tickets, p.breached, p.at_risk, p.ok, p.unknown, p.closed, p.cluster, p.geo_source,
                                   CASE WHEN p_max_ids IS NULL THEN p.ids ELSE p.ids[1:p_max_ids] END
                               )::reporting.map_position_properties)::reporting.map_position_feature
                           ORDER BY ST_GeoHash(p.geom, 12)) FILTER (WHERE p.geom IS NOT NULL), '{}'),
        reporting.map_summary(p_open_only, p_bbox, p_closed_within_days, sum(p.tickets)::bigint,
                              (sum(p.tickets) FILTER (WHERE p.geom IS NOT NULL))::bigint,
                              jsonb_build_object('feed', sum(p.feed), 'location', sum(p.location),
                                                 'cluster', sum(p.cluster_points), 'none', sum(p.none)))
        )::reporting.map_positions_collection)
      FROM p
$$ SET jit = off;
