-- 30: typo-tolerant reuse (issue 18). A place the provider cannot find ('Kileleswa', 'Tassia 2')
-- takes the point of a place already resolved in the same cluster whose name is clearly the same;
-- match_of records which entry it took the point from (its provider is 'match'), so the reuse is
-- visible and reviewable. Similarity is pg_trgm's: a trusted extension, so the database owner (or
-- a role with CREATE on the database) creates it without a superuser.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE tickets.geo_locations
    ADD COLUMN IF NOT EXISTS match_of text REFERENCES tickets.geo_locations (query) ON DELETE SET NULL;

-- tickets.reusable_places, tickets.name_similarity, tickets.save_match: R__20_geocode.sql.
