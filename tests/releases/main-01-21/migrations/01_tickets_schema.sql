-- 01: the tickets schema, raw-jsonb-first.
-- tickets.inc / tickets.crq hold the source record as jsonb; geom/geo_source are derived.
-- The gazetteers cache geocoding results; a trigger resolves each ticket's position
-- (feed -> location -> cluster -> none) whenever its raw record changes.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS tickets;
CREATE SCHEMA IF NOT EXISTS reporting;

CREATE TABLE IF NOT EXISTS tickets.inc (
    ticket_id   text PRIMARY KEY,
    raw         jsonb NOT NULL,
    geom        geometry(Point, 4326),
    geo_source  text NOT NULL DEFAULT 'none'
                CHECK (geo_source IN ('feed', 'location', 'cluster', 'none')),
    ingested_at timestamptz NOT NULL DEFAULT now()
);

-- CRQ (new installations) keeps its raw-first table, the same shape, but is not fed by this pipeline.
CREATE TABLE IF NOT EXISTS tickets.crq (LIKE tickets.inc INCLUDING ALL);

-- One point per cluster: the coarse fallback and the centre of the wrong-city guard.
CREATE TABLE IF NOT EXISTS tickets.geo_clusters (
    cluster      text PRIMARY KEY,
    query        text NOT NULL,
    provider     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('ok', 'not_found', 'rejected', 'error')),
    display_name text,
    geom         geometry(Point, 4326),
    detail       text,
    verified     boolean NOT NULL DEFAULT false,
    geocoded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'ok' OR geom IS NOT NULL)
);

-- One row per normalised location query (place words + cluster context).
CREATE TABLE IF NOT EXISTS tickets.geo_locations (
    query        text PRIMARY KEY,
    place        text NOT NULL,
    cluster      text NOT NULL,
    provider     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('ok', 'not_found', 'rejected', 'error')),
    display_name text,
    geom         geometry(Point, 4326),
    distance_km  double precision,          -- from the cluster point, when a result came back
    detail       text,
    verified     boolean NOT NULL DEFAULT false,
    geocoded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'ok' OR geom IS NOT NULL)
);

-- Which raw location_name (within a cluster) maps to which query: many spellings, one request.
CREATE TABLE IF NOT EXISTS tickets.geo_location_names (
    location_name text NOT NULL,
    cluster       text NOT NULL,
    query         text NOT NULL REFERENCES tickets.geo_locations (query) ON DELETE CASCADE,
    PRIMARY KEY (location_name, cluster)
);
CREATE INDEX IF NOT EXISTS geo_location_names_query_idx ON tickets.geo_location_names (query);

-- Tolerant number parse: junk is NULL, never an error.
CREATE OR REPLACE FUNCTION tickets.num(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$' THEN v::numeric END
$$;

-- The feed's own coordinates, when present and valid (not both 0).
CREATE OR REPLACE FUNCTION tickets.feed_point(raw jsonb) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN tickets.num(raw ->> 'latitude') BETWEEN -90 AND 90
         AND tickets.num(raw ->> 'longitude') BETWEEN -180 AND 180
         AND NOT (tickets.num(raw ->> 'latitude') = 0 AND tickets.num(raw ->> 'longitude') = 0)
        THEN ST_SetSRID(ST_MakePoint(tickets.num(raw ->> 'longitude')::float8,
                                     tickets.num(raw ->> 'latitude')::float8), 4326)
    END
$$;

-- The position rule, in one place: feed -> location -> cluster -> none. Exactly one row.
-- Declared as a set-returning function so PostgreSQL inlines it into the calling query (the
-- trigger's and reresolve_geom's); a non-inlined SQL function costs ~0.4 ms a row here.
CREATE OR REPLACE FUNCTION tickets.resolve_geom(raw jsonb) RETURNS TABLE (geom geometry, geo_source text)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(f.pt, l.geom, c.geom),
           CASE WHEN f.pt IS NOT NULL THEN 'feed'
                WHEN l.geom IS NOT NULL THEN 'location'
                WHEN c.geom IS NOT NULL THEN 'cluster'
                ELSE 'none' END
    FROM (SELECT tickets.feed_point(raw) AS pt) f
    LEFT JOIN tickets.geo_location_names n
           ON n.location_name = raw ->> 'location_name' AND n.cluster = raw ->> 'cluster'
    LEFT JOIN tickets.geo_locations l ON l.query = n.query AND l.status = 'ok'
    LEFT JOIN tickets.geo_clusters c ON c.cluster = raw ->> 'cluster' AND c.status = 'ok'
$$;

CREATE OR REPLACE FUNCTION tickets.trg_resolve_geom() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.geom, r.geo_source INTO NEW.geom, NEW.geo_source FROM tickets.resolve_geom(NEW.raw) r;
    RETURN NEW;
END $$;

-- Any writer of raw gets its position resolved. The ingest merge resolves positions set-based in
-- its own INSERT (a join, ~1 us a row, instead of ~30 us for this trigger's per-row query) and
-- says so for the length of its statement with fleettickets.geom_resolved = 'on'.
DROP TRIGGER IF EXISTS inc_resolve_geom ON tickets.inc;
CREATE TRIGGER inc_resolve_geom BEFORE INSERT OR UPDATE OF raw ON tickets.inc
    FOR EACH ROW WHEN (coalesce(current_setting('fleettickets.geom_resolved', true), '') <> 'on')
    EXECUTE FUNCTION tickets.trg_resolve_geom();

-- Set-based re-resolution after a gazetteer change (all tickets, or those of some clusters).
-- Returns how many tickets moved.
CREATE OR REPLACE FUNCTION tickets.reresolve_geom(p_clusters text[] DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    WITH moved AS (
        UPDATE tickets.inc i
           SET geom = r.geom, geo_source = r.geo_source
          FROM tickets.inc j CROSS JOIN LATERAL tickets.resolve_geom(j.raw) r
         WHERE i.ticket_id = j.ticket_id
           AND (p_clusters IS NULL OR j.raw ->> 'cluster' = ANY (p_clusters))
           AND (i.geom, i.geo_source) IS DISTINCT FROM (r.geom, r.geo_source)
        RETURNING 1
    )
    SELECT count(*) FROM moved
$$;

-- The map payload read by dashboard_api: a GeoJSON FeatureCollection of geocoded tickets.
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
            'geocoded', (SELECT count(*) FROM t WHERE geom IS NOT NULL)))
$$;
