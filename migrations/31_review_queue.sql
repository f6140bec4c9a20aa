-- 31: the review queue (issue 18). A location entry keeps the provider's candidates (name, kind,
-- point, km from the cluster point), so a reviewer sees what came back, not only "not found".
-- A label that is nothing but network codes (`NW_FDT_07`: a cabinet crews know) becomes an entry of
-- its own, never asked (provider 'codes'), so it can be placed by hand like any place.

ALTER TABLE tickets.geo_locations ADD COLUMN IF NOT EXISTS candidates jsonb;

DROP FUNCTION IF EXISTS tickets.save_location(text, text, text, text, text, text, double precision, double precision,
                                              double precision, text, text[], smallint);

-- save_location with p_candidates, tickets.review_queue: R__20_geocode.sql.
