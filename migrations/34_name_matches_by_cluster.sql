-- 34: name matching compares same-cluster pairs only, and saves its reuses in one statement
-- (issue 26). tickets.name_similarity now takes each name with its cluster and tickets.save_matches
-- takes every reuse at once (R__20_geocode.sql); the old forms go, so no caller can reach them:
-- name_similarity(text[], text[]) paired every name with every known name of every cluster.

DROP FUNCTION IF EXISTS tickets.name_similarity(text[], text[]);
DROP FUNCTION IF EXISTS tickets.save_match(text, text, text);
