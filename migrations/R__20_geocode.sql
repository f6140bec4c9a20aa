-- Positions and the gazetteers: how a ticket's point is chosen, how geocoding results are written,
-- and which tickets a geocoding run asks about. (The trigger that applies the position rule to any
-- writer of raw is part of the table: migration 01.)

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

-- Set-based re-resolution after a gazetteer change (all tickets, or those of some clusters).
-- Returns how many tickets moved. PL/pgSQL, so the statement is planned knowing p_clusters: the
-- clusters' tickets are then read by the cluster index (a SQL function plans `p_clusters IS NULL
-- OR ...` once for any value, and reads the whole table).
CREATE OR REPLACE FUNCTION tickets.reresolve_geom(p_clusters text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved_count bigint;
BEGIN
    WITH moved AS (
        UPDATE tickets.inc i
           SET geom = r.geom, geo_source = r.geo_source
          FROM tickets.inc j CROSS JOIN LATERAL tickets.resolve_geom(j.raw) r
         WHERE i.ticket_id = j.ticket_id
           AND (p_clusters IS NULL OR j.cluster = ANY (p_clusters))
           AND (i.geom, i.geo_source) IS DISTINCT FROM (r.geom, r.geo_source)
        RETURNING 1
    )
    SELECT count(*) INTO moved_count FROM moved;
    RETURN moved_count;
END $$;

-- A geocoding run stores every outcome through save_cluster / save_location; a row an operator
-- has verified is never overwritten. p_strategy: how the answer was chosen (migration 16).
-- An 'error' (timeout, HTTP 5xx) says nothing about the place: it never replaces an answer
-- (ok, not_found, rejected), which keeps its point and its strategy, so an entry from an older
-- strategy is asked again next run instead of losing its point (and its tickets their position).
-- A real answer under the current strategy does replace it: that is what asking again is for.
-- Both return false only when the entry is verified (the run counts those as kept).
CREATE OR REPLACE FUNCTION tickets.outcome_replaces(p_new_status text, p_old_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p_new_status <> 'error' OR p_old_status = 'error' $$;

CREATE OR REPLACE FUNCTION tickets.save_cluster(
    p_cluster text, p_query text, p_provider text, p_status text, p_display_name text,
    p_lng double precision, p_lat double precision, p_detail text, p_strategy smallint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tickets.geo_clusters AS g (cluster, query, provider, status, display_name, geom, detail, strategy)
    VALUES (p_cluster, p_query, p_provider, p_status, p_display_name,
            ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326), p_detail, p_strategy)
    ON CONFLICT (cluster) DO UPDATE
        SET query = EXCLUDED.query, provider = EXCLUDED.provider, status = EXCLUDED.status,
            display_name = EXCLUDED.display_name, geom = EXCLUDED.geom, detail = EXCLUDED.detail,
            strategy = EXCLUDED.strategy, geocoded_at = now()
        WHERE NOT g.verified AND tickets.outcome_replaces(EXCLUDED.status, g.status);
    RETURN FOUND OR NOT EXISTS (SELECT 1 FROM tickets.geo_clusters WHERE cluster = p_cluster AND verified);
END $$;

-- p_query is the entry's key ("place, cluster, kenya", the same under every strategy);
-- p_names: every raw location_name (in p_cluster) that normalises to it.
CREATE OR REPLACE FUNCTION tickets.save_location(
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
            strategy = EXCLUDED.strategy, match_of = NULL, geocoded_at = now()
        WHERE NOT g.verified AND tickets.outcome_replaces(EXCLUDED.status, g.status);
    saved := FOUND OR NOT EXISTS (SELECT 1 FROM tickets.geo_locations WHERE query = p_query AND verified);
    PERFORM tickets.add_location_names(p_query, p_cluster, p_names);
    RETURN saved;
END $$;

CREATE OR REPLACE FUNCTION tickets.add_location_names(p_query text, p_cluster text, p_names text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.geo_location_names (location_name, cluster, query)
    SELECT DISTINCT n, p_cluster, p_query FROM unnest(p_names) AS n
    ON CONFLICT (location_name, cluster) DO UPDATE SET query = EXCLUDED.query
$$;

-- Typo-tolerant reuse (migration 30; the rule is places.choose_match): the places a reuse may
-- take a point from, per cluster: resolved (by the provider or by hand), not themselves a reuse,
-- and within the guard of their cluster's point ...
CREATE OR REPLACE FUNCTION tickets.reusable_places(p_guard_km double precision)
RETURNS TABLE (cluster text, query text, place text)
LANGUAGE sql STABLE AS $$
    SELECT l.cluster, l.query, l.place
      FROM tickets.geo_locations l
      JOIN tickets.geo_clusters c ON c.cluster = l.cluster AND c.status = 'ok'
     WHERE l.status = 'ok' AND l.provider <> 'match'
       AND ST_DWithin(l.geom::geography, c.geom::geography, p_guard_km * 1000)
$$;

-- ... the entries that may take one: the provider found nothing there (or only beyond the guard),
-- and no one has verified them ...
CREATE OR REPLACE VIEW tickets.places_to_match AS
SELECT query, place, cluster
  FROM tickets.geo_locations
 WHERE status IN ('not_found', 'rejected') AND NOT verified;

-- ... pg_trgm's similarity of every name to every known name (both folded by the caller) ...
CREATE OR REPLACE FUNCTION tickets.name_similarity(p_names text[], p_known text[])
RETURNS TABLE (name text, known text, similarity real)
LANGUAGE sql STABLE AS $$
    SELECT n, k, similarity(n, k) FROM unnest(p_names) n CROSS JOIN unnest(p_known) k
$$;

-- ... and the reuse itself: the point of p_source, at location precision, recorded as a match of
-- it. Never over a verified entry, nor from one that is not resolved. Returns whether it was saved.
CREATE OR REPLACE FUNCTION tickets.save_match(p_query text, p_source text, p_detail text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tickets.geo_locations g
       SET status = 'ok', provider = 'match', match_of = s.query, display_name = s.display_name,
           geom = s.geom, distance_km = s.distance_km, detail = p_detail, geocoded_at = now()
      FROM tickets.geo_locations s
     WHERE g.query = p_query AND NOT g.verified AND s.query = p_source AND s.status = 'ok'
       AND s.cluster = g.cluster;
    RETURN FOUND;
END $$;

CREATE OR REPLACE VIEW tickets.gazetteer AS
SELECT 'cluster'::text AS kind, cluster AS key, cluster, status, verified, provider, display_name,
       ST_Y(geom) AS latitude, ST_X(geom) AS longitude, NULL::double precision AS distance_km, detail, geocoded_at
  FROM tickets.geo_clusters
UNION ALL
SELECT 'location', query, cluster, status, verified, provider, display_name,
       ST_Y(geom), ST_X(geom), distance_km, detail, geocoded_at
  FROM tickets.geo_locations;

-- Mark an entry checked by hand. Returns false if there is no such entry.
CREATE OR REPLACE FUNCTION tickets.verify_entry(p_kind text, p_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_kind = 'cluster' THEN
        UPDATE tickets.geo_clusters SET verified = true WHERE cluster = p_key;
    ELSE
        UPDATE tickets.geo_locations SET verified = true WHERE query = p_key;
    END IF;
    RETURN FOUND;
END $$;

-- Set an entry's point by hand: it becomes ok, verified, provider 'manual', and its tickets are
-- re-resolved now. Returns how many tickets moved, NULL if there is no such entry.
CREATE OR REPLACE FUNCTION tickets.set_entry_point(p_kind text, p_key text, p_lng double precision,
                                                   p_lat double precision) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    point constant geometry := ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326);
    affected text;
BEGIN
    IF p_kind = 'cluster' THEN
        UPDATE tickets.geo_clusters
           SET geom = point, status = 'ok', verified = true, provider = 'manual', detail = NULL, geocoded_at = now()
         WHERE cluster = p_key RETURNING cluster INTO affected;
    ELSE
        UPDATE tickets.geo_locations
           SET geom = point, status = 'ok', verified = true, provider = 'manual', detail = NULL,
               distance_km = NULL, match_of = NULL, geocoded_at = now()
         WHERE query = p_key RETURNING cluster INTO affected;
    END IF;
    IF affected IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN tickets.reresolve_geom(ARRAY[affected]);
END $$;

-- What a geocoding run asks about: every cluster named by a ticket, most tickets first ...
CREATE OR REPLACE VIEW tickets.clusters_to_geocode AS
SELECT cluster, count(*) AS tickets
  FROM tickets.inc
 WHERE btrim(cluster) <> ''
 GROUP BY cluster;

-- ... and every place named by an open ticket in a cluster (the run groups spellings into places).
CREATE OR REPLACE VIEW tickets.places_to_geocode AS
SELECT location_name, cluster, count(*) AS tickets
  FROM tickets.inc
 WHERE is_actionable AND btrim(location_name) <> '' AND btrim(cluster) <> ''
 GROUP BY location_name, cluster;
