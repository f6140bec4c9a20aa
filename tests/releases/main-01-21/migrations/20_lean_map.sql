-- 20: a lean map payload. fn_tickets_for_map() and fn_tickets_for_map(p_open_only := false) return
-- the same features as before, with the properties the map shows built from typed columns (not
-- to_jsonb of the whole row), timestamps in UTC with Z whatever the session's TimeZone, and numbers
-- as JSON numbers. New optional parameters, defaults keeping old calls as they were: a bounding box
-- and a cap on closed tickets by age. fn_tickets_for_map_by_position is the zoomed-out view: one
-- feature per distinct point (tickets stack on cluster and place points), with counts by SLA state.

-- A moment as the payloads write it: UTC, whole seconds, 'Z' (never the session's offset).
CREATE OR REPLACE FUNCTION reporting.utc_text(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

-- The SLA state of a ticket: tickets.inc_open_sla's rule (migration 08: breached at 48 h, at_risk at
-- 36 h, unknown without a clock) for open tickets, and 'closed' for the others.
CREATE OR REPLACE FUNCTION reporting.sla_state(is_open boolean, clock timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN NOT coalesce(is_open, false) THEN 'closed'
                WHEN clock IS NULL THEN 'unknown'
                WHEN now() - clock >= interval '48 hours' THEN 'breached'
                WHEN now() - clock >= interval '36 hours' THEN 'at_risk'
                ELSE 'ok' END
$$;

-- The map layer: one row per ticket with what the map shows. ticket_id comes first because QGIS
-- takes a view's first column as its key; only geom (no geog), so GDAL opens it without a quirk.
CREATE OR REPLACE VIEW reporting.inc_map AS
SELECT ticket_id,
       is_actionable AS is_open,
       normalized_status,
       cluster,
       location_name,
       assigned_team,
       reporting.sla_state(is_actionable, coalesce(created_at_service, first_seen_at)) AS sla_state,
       CASE WHEN is_actionable THEN
           round((extract(epoch FROM now() - coalesce(created_at_service, first_seen_at)) / 3600)::numeric, 1)
       END AS hours_open,
       closed_at,
       geo_source,
       geom
  FROM tickets.inc;

-- The open tickets, so the default map call reads them, not the whole table. Keys only: a free-text
-- column in an index tuple (even INCLUDEd) would let one over-long value fail an insert.
CREATE INDEX IF NOT EXISTS inc_map_open_idx ON tickets.inc (ticket_id) WHERE is_actionable;

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
       OR NOT (p_bbox[1] BETWEEN -180 AND 180 AND p_bbox[3] BETWEEN -180 AND 180
               AND p_bbox[2] BETWEEN -90 AND 90 AND p_bbox[4] BETWEEN -90 AND 90)
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

-- The payloads are built as composite rows and turned into jsonb by one to_jsonb at the end: that
-- writes each value once, where nested jsonb_build_object/jsonb_agg re-serialise every level
-- (measured on 24k open tickets: about half the time of building json text and casting it).
CREATE TYPE reporting.map_point AS (type text, coordinates double precision[]);
CREATE TYPE reporting.map_ticket_properties AS (
    normalized_status text, cluster text, location_name text, assigned_team text,
    sla_state text, hours_open numeric, closed_at text, geo_source text);
CREATE TYPE reporting.map_ticket_feature AS (
    type text, id text, geometry reporting.map_point, properties reporting.map_ticket_properties);
CREATE TYPE reporting.map_tickets_collection AS (
    type text, features reporting.map_ticket_feature[], summary jsonb);
CREATE TYPE reporting.map_position_properties AS (
    tickets bigint, breached bigint, at_risk bigint, ok bigint, unknown bigint, closed bigint,
    cluster text, geo_source text, ticket_ids text[]);
CREATE TYPE reporting.map_position_feature AS (
    type text, id text, geometry reporting.map_point, properties reporting.map_position_properties);
CREATE TYPE reporting.map_positions_collection AS (
    type text, features reporting.map_position_feature[], summary jsonb);

-- The summary of a map call: its arguments, the tickets selected, how many have a point, their
-- positions by precision (the values present only) and the freshness of the data.
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
                                                'ingested_at', reporting.utc_text(m.ingested_at)) || m.metadata
                        FROM tickets.import_meta m WHERE m.dataset = 'inc'))
$$;

DROP FUNCTION IF EXISTS reporting.fn_tickets_for_map(boolean);

-- One feature per geocoded ticket, ordered by ticket_id. Properties: normalized_status, cluster,
-- location_name, assigned_team, sla_state, hours_open, closed_at, geo_source (README: Querying).
CREATE FUNCTION reporting.fn_tickets_for_map(
    p_open_only boolean DEFAULT true,
    p_bbox double precision[] DEFAULT NULL,       -- ARRAY[west, south, east, north]
    p_closed_within_days integer DEFAULT NULL)    -- closed tickets: only those closed this recently
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(ROW(
        'FeatureCollection',
        coalesce(array_agg(ROW('Feature', t.ticket_id,
                               ROW('Point', ARRAY[ST_X(t.geom), ST_Y(t.geom)])::reporting.map_point,
                               ROW(t.normalized_status, t.cluster, t.location_name, t.assigned_team, t.sla_state,
                                   t.hours_open, reporting.utc_text(t.closed_at), t.geo_source
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
