-- 04: latitude/longitude follow the geocoded position too: COALESCE(feed, geom). The feed's
-- coordinates are empty today, so without this they would always be NULL. geo_source says how
-- precise the point is (location vs cluster centroid).

ALTER TABLE tickets.inc
    DROP COLUMN latitude,
    DROP COLUMN longitude;
ALTER TABLE tickets.inc
    ADD COLUMN latitude  double precision
        GENERATED ALWAYS AS (coalesce(ST_Y(tickets.feed_point(raw)), ST_Y(geom))) STORED,
    ADD COLUMN longitude double precision
        GENERATED ALWAYS AS (coalesce(ST_X(tickets.feed_point(raw)), ST_X(geom))) STORED;
