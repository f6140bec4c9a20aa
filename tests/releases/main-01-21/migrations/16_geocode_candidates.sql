-- 16: geocoding by candidates (issue 10). Each gazetteer entry records the strategy that decided
-- it: 1 = the first answer to "place, cluster, Kenya" (everything cached before this migration);
-- 2 = the place words alone, restricted to a box around the cluster point, the nearest fitting
-- candidate chosen. A run asks an unverified entry of an older strategy again, once.
-- Junk coordinates (NaN, infinities, out of range) are never a point: any already cached become
-- 'error' (asked again), their tickets are re-resolved, and the tables refuse them from now on.

ALTER TABLE tickets.geo_clusters ADD COLUMN IF NOT EXISTS strategy smallint NOT NULL DEFAULT 1;
ALTER TABLE tickets.geo_locations ADD COLUMN IF NOT EXISTS strategy smallint NOT NULL DEFAULT 1;

-- NaN compares greater than every number in PostgreSQL, so BETWEEN is false for NaN and infinities.
CREATE OR REPLACE FUNCTION tickets.is_position(g geometry) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ST_X(g) BETWEEN -180 AND 180 AND ST_Y(g) BETWEEN -90 AND 90
$$;

DO $$
DECLARE
    affected text[];
BEGIN
    WITH junk_c AS (
        UPDATE tickets.geo_clusters
           SET status = 'error', geom = NULL, detail = 'junk coordinates (cleared by migration 16)'
         WHERE geom IS NOT NULL AND NOT tickets.is_position(geom)
        RETURNING cluster
    ), junk_l AS (
        UPDATE tickets.geo_locations
           SET status = 'error', geom = NULL, distance_km = NULL,
               detail = 'junk coordinates (cleared by migration 16)'
         WHERE geom IS NOT NULL AND NOT tickets.is_position(geom)
        RETURNING cluster
    )
    SELECT array_agg(DISTINCT cluster) INTO affected
      FROM (SELECT cluster FROM junk_c UNION ALL SELECT cluster FROM junk_l) j;
    IF affected IS NOT NULL THEN
        PERFORM tickets.reresolve_geom(affected);
    END IF;
END $$;

ALTER TABLE tickets.geo_clusters
    ADD CONSTRAINT geo_clusters_position CHECK (geom IS NULL OR tickets.is_position(geom));
ALTER TABLE tickets.geo_locations
    ADD CONSTRAINT geo_locations_position CHECK (geom IS NULL OR tickets.is_position(geom));

DROP FUNCTION IF EXISTS tickets.save_cluster(text, text, text, text, text, double precision, double precision, text);
DROP FUNCTION IF EXISTS tickets.save_location(text, text, text, text, text, text, double precision, double precision,
                                              double precision, text, text[]);

CREATE FUNCTION tickets.save_cluster(
    p_cluster text, p_query text, p_provider text, p_status text, p_display_name text,
    p_lng double precision, p_lat double precision, p_detail text, p_strategy smallint) RETURNS boolean
LANGUAGE sql AS $$
    WITH saved AS (
        INSERT INTO tickets.geo_clusters AS g (cluster, query, provider, status, display_name, geom, detail, strategy)
        VALUES (p_cluster, p_query, p_provider, p_status, p_display_name,
                ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326), p_detail, p_strategy)
        ON CONFLICT (cluster) DO UPDATE
            SET query = EXCLUDED.query, provider = EXCLUDED.provider, status = EXCLUDED.status,
                display_name = EXCLUDED.display_name, geom = EXCLUDED.geom, detail = EXCLUDED.detail,
                strategy = EXCLUDED.strategy, geocoded_at = now()
            WHERE NOT g.verified
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM saved)
$$;

-- p_query is the entry's key ("place, cluster, kenya", the same under every strategy);
-- p_names: every raw location_name (in p_cluster) that normalises to it.
CREATE FUNCTION tickets.save_location(
    p_query text, p_place text, p_cluster text, p_provider text, p_status text, p_display_name text,
    p_lng double precision, p_lat double precision, p_distance_km double precision, p_detail text,
    p_names text[], p_strategy smallint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    saved boolean;
BEGIN
    INSERT INTO tickets.geo_locations AS g
           (query, place, cluster, provider, status, display_name, geom, distance_km, detail, strategy)
    VALUES (p_query, p_place, p_cluster, p_provider, p_status, p_display_name,
            ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326), p_distance_km, p_detail, p_strategy)
    ON CONFLICT (query) DO UPDATE
        SET provider = EXCLUDED.provider, status = EXCLUDED.status, display_name = EXCLUDED.display_name,
            geom = EXCLUDED.geom, distance_km = EXCLUDED.distance_km, detail = EXCLUDED.detail,
            strategy = EXCLUDED.strategy, geocoded_at = now()
        WHERE NOT g.verified;
    saved := FOUND;
    PERFORM tickets.add_location_names(p_query, p_cluster, p_names);
    RETURN saved;
END $$;
