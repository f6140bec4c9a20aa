-- The earlier loader's database, as the seed README documents it (migrations 01-08 of the tracksolid
-- era, applied by its run_migrations.py): the tests take it over with `migrate --adopt`. Written
-- from the README's tables, not from this package's files: the gazetteer keys are the loader's own
-- ("Kileleshwa, Nairobi West, Kenya"), there is no spelling table, the trigger matches the place
-- words itself, and the map function is the loader's (raw as properties). The ledger is made by
-- tests/seed_era.py in one of the shapes seen in the field.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS tickets;
CREATE SCHEMA IF NOT EXISTS reporting;

CREATE TABLE tickets.inc (
    ticket_id   text PRIMARY KEY,
    raw         jsonb NOT NULL,
    geom        geometry(Point, 4326),
    geo_source  text NOT NULL DEFAULT 'none',
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tickets.crq (LIKE tickets.inc INCLUDING ALL);

CREATE TABLE tickets.geo_clusters (
    cluster      text PRIMARY KEY,
    query        text NOT NULL,
    provider     text NOT NULL,
    status       text NOT NULL,
    display_name text,
    geom         geometry(Point, 4326),
    verified     boolean NOT NULL DEFAULT false,
    geocoded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tickets.geo_locations (
    query        text PRIMARY KEY,
    place        text NOT NULL,
    cluster      text NOT NULL,
    provider     text NOT NULL,
    status       text NOT NULL,
    display_name text,
    geom         geometry(Point, 4326),
    distance_km  double precision,
    verified     boolean NOT NULL DEFAULT false,
    geocoded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tickets.import_meta (
    dataset     text PRIMARY KEY,
    source_key  text,
    snapshot_at timestamptz,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE FUNCTION tickets.place_words(location_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT btrim(regexp_replace(regexp_replace(location_name, '(NW_|ADR_|MNT_|FDT_?\d*|SDUS ?\d*)', ' ', 'gi'),
                                '[_\s]+', ' ', 'g'))
$$;

CREATE FUNCTION tickets.trg_resolve_geom() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT coalesce(l.geom, c.geom),
           CASE WHEN l.geom IS NOT NULL THEN 'location' WHEN c.geom IS NOT NULL THEN 'cluster' ELSE 'none' END
      INTO NEW.geom, NEW.geo_source
      FROM (SELECT 1) one
      LEFT JOIN tickets.geo_locations l
             ON l.cluster = NEW.raw ->> 'cluster' AND l.place = tickets.place_words(NEW.raw ->> 'location_name')
            AND l.status = 'ok'
      LEFT JOIN tickets.geo_clusters c ON c.cluster = NEW.raw ->> 'cluster' AND c.status = 'ok';
    RETURN NEW;
END $$;
CREATE TRIGGER inc_resolve_geom BEFORE INSERT OR UPDATE OF raw ON tickets.inc
    FOR EACH ROW EXECUTE FUNCTION tickets.trg_resolve_geom();
-- The loader's engine (after Phase 1: INC and CRQ) positioned CRQ's tickets by the same rule.
CREATE TRIGGER crq_resolve_geom BEFORE INSERT OR UPDATE OF raw ON tickets.crq
    FOR EACH ROW EXECUTE FUNCTION tickets.trg_resolve_geom();

CREATE FUNCTION tickets.to_bool(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE lower(btrim(v)) WHEN 'true' THEN true WHEN 'false' THEN false END $$;
CREATE FUNCTION tickets.eat_ts(v text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v ~ '^\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?$' THEN (v || '+03')::timestamptz END
$$;
CREATE FUNCTION tickets.hours_to_minutes(v text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN v ~ '^\d{1,6}(\.\d+)?$' THEN round(v::numeric * 60)::integer END $$;

-- 03-07: the typed columns, in the order the loader's migrations left them.
ALTER TABLE tickets.inc
    ADD COLUMN normalized_status  text GENERATED ALWAYS AS (raw ->> 'normalized_status') STORED,
    ADD COLUMN raw_status         text GENERATED ALWAYS AS (raw ->> 'raw_status') STORED,
    ADD COLUMN bucket             text GENERATED ALWAYS AS (raw ->> 'bucket') STORED,
    ADD COLUMN is_actionable      boolean GENERATED ALWAYS AS (tickets.to_bool(raw ->> 'is_actionable')) STORED,
    ADD COLUMN cluster            text GENERATED ALWAYS AS (raw ->> 'cluster') STORED,
    ADD COLUMN region             text GENERATED ALWAYS AS (raw ->> 'region') STORED,
    ADD COLUMN location_name      text GENERATED ALWAYS AS (raw ->> 'location_name') STORED,
    ADD COLUMN assigned_team      text GENERATED ALWAYS AS (raw ->> 'assigned_team') STORED,
    ADD COLUMN owner              text GENERATED ALWAYS AS (raw ->> 'owner') STORED,
    ADD COLUMN sla_status         text GENERATED ALWAYS AS (raw ->> 'sla_status') STORED,
    ADD COLUMN created_at_service timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'created_at_service')) STORED,
    ADD COLUMN scheduled_at       timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'scheduled_at')) STORED,
    ADD COLUMN closed_at          timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'closed_at')) STORED,
    ADD COLUMN first_seen_at      timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'first_seen_at')) STORED,
    ADD COLUMN last_seen_at       timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'last_seen_at')) STORED,
    ADD COLUMN source_created_at  timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'created_at')) STORED,
    ADD COLUMN source_updated_at  timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'updated_at')) STORED,
    ADD COLUMN latitude           double precision GENERATED ALWAYS AS (ST_Y(geom)) STORED,
    ADD COLUMN longitude          double precision GENERATED ALWAYS AS (ST_X(geom)) STORED,
    ADD COLUMN geog               geography(Point, 4326) GENERATED ALWAYS AS (geom::geography) STORED,
    ADD COLUMN mttr               integer GENERATED ALWAYS AS (tickets.hours_to_minutes(raw ->> 'mttr')) STORED;
CREATE INDEX inc_cluster_idx ON tickets.inc (cluster);
CREATE INDEX inc_geog_gist ON tickets.inc USING gist (geog);

-- 08: the open-ticket SLA view that dashboards and the other tenant read.
CREATE VIEW tickets.inc_open_sla AS
SELECT ticket_id, normalized_status, raw_status, cluster, region, location_name, assigned_team, owner,
       coalesce(created_at_service, first_seen_at) AS sla_clock_start,
       CASE WHEN created_at_service IS NOT NULL THEN 'created_at_service'
            WHEN first_seen_at IS NOT NULL THEN 'first_seen_at' END AS sla_clock_source,
       round((extract(epoch FROM now() - coalesce(created_at_service, first_seen_at)) / 3600)::numeric, 2)
           AS hours_open,
       CASE WHEN coalesce(created_at_service, first_seen_at) IS NULL THEN 'unknown'
            WHEN now() - coalesce(created_at_service, first_seen_at) >= interval '48 hours' THEN 'breached'
            WHEN now() - coalesce(created_at_service, first_seen_at) >= interval '36 hours' THEN 'at_risk'
            ELSE 'ok' END AS sla_state,
       sla_status AS source_sla_status, geo_source, latitude, longitude, geom, geog
  FROM tickets.inc
 WHERE is_actionable;

-- 01/02: the map payload dashboard_api serves (raw as the properties) with summary.freshness.
CREATE FUNCTION reporting.fn_tickets_for_map(p_open_only boolean DEFAULT true) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'type', 'FeatureCollection',
        'features', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'type', 'Feature', 'id', ticket_id,
                       'geometry', jsonb_build_object('type', 'Point', 'coordinates',
                                                      jsonb_build_array(ST_X(geom), ST_Y(geom))),
                       'properties', raw || jsonb_build_object('geo_source', geo_source)) ORDER BY ticket_id)
              FROM tickets.inc WHERE geom IS NOT NULL AND (NOT p_open_only OR is_actionable)), '[]'::jsonb),
        'summary', jsonb_build_object(
            'freshness', (SELECT to_jsonb(m) FROM tickets.import_meta m WHERE dataset = 'inc')))
$$;
