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
    IF affected IS NOT NULL THEN  -- only on a database that has rows, so 01 defined reresolve_geom
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

-- save_cluster / save_location with p_strategy: R__20_geocode.sql.
