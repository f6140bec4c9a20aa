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

-- The position rule (tickets.resolve_geom), reresolve_geom and the map payload: R__20_geocode.sql,
-- R__70_map.sql. Functions and views live in the R__ files, in their current form.
