-- 05: geog = geom::geography, GiST-indexed, for routing: ST_Distance / ST_DWithin / KNN (<->)
-- in real metres (nearest vehicle, radius search).

ALTER TABLE tickets.inc
    ADD COLUMN geog geography(Point, 4326) GENERATED ALWAYS AS (geom::geography) STORED;
CREATE INDEX IF NOT EXISTS inc_geog_gist ON tickets.inc USING gist (geog);
