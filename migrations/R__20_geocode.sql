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

-- Set-based re-resolution after a gazetteer change (all tickets, or those of some clusters), in
-- every dataset's table (INC's and CRQ's). Returns how many tickets moved. PL/pgSQL, so each
-- statement is planned knowing p_clusters: the clusters' tickets are then read by the cluster index
-- (a SQL function plans `p_clusters IS NULL OR ...` once for any value, and reads the whole table).
CREATE OR REPLACE FUNCTION tickets.reresolve_geom(p_clusters text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved_inc bigint;
    moved_crq bigint;
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
    SELECT count(*) INTO moved_inc FROM moved;
    WITH moved AS (
        UPDATE tickets.crq i
           SET geom = r.geom, geo_source = r.geo_source
          FROM tickets.crq j CROSS JOIN LATERAL tickets.resolve_geom(j.raw) r
         WHERE i.ticket_id = j.ticket_id
           AND (p_clusters IS NULL OR j.cluster = ANY (p_clusters))
           AND (i.geom, i.geo_source) IS DISTINCT FROM (r.geom, r.geo_source)
        RETURNING 1
    )
    SELECT count(*) INTO moved_crq FROM moved;
    RETURN moved_inc + moved_crq;
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
-- p_names: every raw location_name (in p_cluster) that normalises to it; p_candidates: what the
-- provider answered (migration 31), for the review queue.
CREATE OR REPLACE FUNCTION tickets.save_location(
    p_query text, p_place text, p_cluster text, p_provider text, p_status text, p_display_name text,
    p_lng double precision, p_lat double precision, p_distance_km double precision, p_detail text,
    p_names text[], p_strategy smallint, p_candidates jsonb DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    saved boolean;
BEGIN
    INSERT INTO tickets.geo_locations AS g
           (query, place, cluster, provider, status, display_name, geom, distance_km, detail, strategy, candidates)
    VALUES (p_query, p_place, p_cluster, p_provider, p_status, p_display_name,
            ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326), p_distance_km, p_detail, p_strategy, p_candidates)
    ON CONFLICT (query) DO UPDATE
        SET provider = EXCLUDED.provider, status = EXCLUDED.status, display_name = EXCLUDED.display_name,
            geom = EXCLUDED.geom, distance_km = EXCLUDED.distance_km, detail = EXCLUDED.detail,
            strategy = EXCLUDED.strategy, match_of = NULL, candidates = EXCLUDED.candidates, geocoded_at = now()
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
 WHERE status IN ('not_found', 'rejected') AND NOT verified AND provider <> 'codes';

-- ... pg_trgm's similarity of each name to each known name of its own cluster (names and known
-- names folded by the caller, each paired with its cluster: p_clusters[i] is p_names[i]'s), only the
-- pairs at or above p_min (places.MATCH_SIMILARITY: no other pair can be chosen). The join on the
-- cluster keeps the work to the pairs a choice compares (the forms of 2,000 places against 20,000
-- known names in 200 clusters: 0.25 million pairs, not 42.6 million; bench/matching.py), and the
-- filter keeps what is sent back to about one row per place.
CREATE OR REPLACE FUNCTION tickets.name_similarity(p_clusters text[], p_names text[], p_known_clusters text[],
                                                   p_known text[], p_min double precision)
RETURNS TABLE (name text, known text, similarity real)
LANGUAGE sql STABLE AS $$
    SELECT n.name, k.known, similarity(n.name, k.known)
      FROM unnest(p_clusters, p_names) AS n (cluster, name)
      JOIN unnest(p_known_clusters, p_known) AS k (cluster, known) ON k.cluster = n.cluster
     WHERE similarity(n.name, k.known) >= p_min
$$;

-- ... and the reuses themselves: p_queries[i] takes the point of p_sources[i], at location
-- precision, recorded as a match of it, p_details[i] saying why. Never over a verified entry, nor
-- from one that is not resolved or of another cluster. Returns the entries saved.
CREATE OR REPLACE FUNCTION tickets.save_matches(p_queries text[], p_sources text[], p_details text[])
RETURNS SETOF text
LANGUAGE sql AS $$
    UPDATE tickets.geo_locations g
       SET status = 'ok', provider = 'match', match_of = s.query, display_name = s.display_name,
           geom = s.geom, distance_km = s.distance_km, detail = m.detail, geocoded_at = now()
      FROM unnest(p_queries, p_sources, p_details) AS m (query, source, detail)
      JOIN tickets.geo_locations s ON s.query = m.source
     WHERE g.query = m.query AND NOT g.verified AND s.status = 'ok' AND s.cluster = g.cluster
    RETURNING g.query
$$;

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

-- What a geocoding run asks about: every cluster named by a ticket of either dataset (the points
-- are shared), most tickets first ...
CREATE OR REPLACE VIEW tickets.clusters_to_geocode AS
SELECT cluster, count(*) AS tickets
  FROM (SELECT cluster FROM tickets.inc UNION ALL SELECT cluster FROM tickets.crq) t
 WHERE btrim(cluster) <> ''
 GROUP BY cluster;

-- ... and every place named by an open ticket in a cluster (the run groups spellings into places),
-- per dataset: an INC ticket is open when actionable; a CRQ row too, or when it does not say.
CREATE OR REPLACE VIEW tickets.places_to_geocode AS
SELECT location_name, cluster, count(*) AS tickets, 'inc'::text AS dataset
  FROM tickets.inc
 WHERE is_actionable AND btrim(location_name) <> '' AND btrim(cluster) <> ''
 GROUP BY location_name, cluster
UNION ALL
SELECT location_name, cluster, count(*), 'crq'
  FROM tickets.crq
 WHERE coalesce(is_actionable, true) AND btrim(location_name) <> '' AND btrim(cluster) <> ''
 GROUP BY location_name, cluster;

-- The far rule's distance (places.FAR_KM, which tests/test_places.py holds equal to this): an
-- accepted answer farther than this from every other place resolved in its cluster is most likely
-- another town's. IMMUTABLE, so the queue's plan folds it to a constant.
CREATE OR REPLACE FUNCTION tickets.far_km() RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 10.0::double precision $$;

-- The review queue (migration 31): every unverified location entry whose open tickets a reviewer
-- should place, those with the most open tickets away from a location point first (what a placement
-- moves), then the most open tickets. Why: not_found, rejected, error, codes_only (a label of
-- network codes alone), match (a reuse nobody confirmed) or far (an accepted answer more than
-- tickets.far_km() from every other place resolved in its cluster).
-- A function, for its SET: PostGIS's function costs push the plan's estimate past jit_above_cost,
-- and compiling it took 0.4 s for a query that runs in 20 ms.
CREATE OR REPLACE FUNCTION tickets.review_queue_rows()
RETURNS TABLE (key text, place text, cluster text, reason text, status text, provider text, detail text,
               latitude double precision, longitude double precision,
               cluster_latitude double precision, cluster_longitude double precision,
               candidates jsonb, tickets bigint, off_location bigint)
LANGUAGE sql STABLE AS $$
WITH open_tickets AS (
    SELECT n.query, count(*) AS tickets, count(*) FILTER (WHERE i.geo_source <> 'location') AS off_location
      FROM tickets.inc i
      JOIN tickets.geo_location_names n ON n.location_name = i.location_name AND n.cluster = i.cluster
     WHERE i.is_actionable AND i.geo_source <> 'feed'
     GROUP BY n.query
), judged AS (
    SELECT l.*, o.tickets, o.off_location,
           CASE WHEN l.provider = 'codes' THEN 'codes_only'
                WHEN l.status <> 'ok' THEN l.status
                WHEN l.provider = 'match' THEN 'match'
                WHEN l.provider <> 'manual' AND NOT EXISTS (
                         SELECT 1 FROM tickets.geo_locations x
                          WHERE x.cluster = l.cluster AND x.query <> l.query AND x.status = 'ok'
                            AND ST_DWithin(x.geom::geography, l.geom::geography, tickets.far_km() * 1000))
                     AND EXISTS (SELECT 1 FROM tickets.geo_locations x
                                  WHERE x.cluster = l.cluster AND x.query <> l.query AND x.status = 'ok')
                THEN 'far'
           END AS reason
      FROM tickets.geo_locations l
      JOIN open_tickets o USING (query)
     WHERE NOT l.verified
)
SELECT j.query AS key, j.place, j.cluster, j.reason, j.status, j.provider, j.detail,
       ST_Y(j.geom) AS latitude, ST_X(j.geom) AS longitude,
       ST_Y(c.geom) AS cluster_latitude, ST_X(c.geom) AS cluster_longitude,
       coalesce(j.candidates, '[]'::jsonb) AS candidates, j.tickets, j.off_location
  FROM judged j
  LEFT JOIN tickets.geo_clusters c ON c.cluster = j.cluster AND c.status = 'ok'
 WHERE j.reason IS NOT NULL
 ORDER BY j.off_location DESC, j.tickets DESC, j.query
$$ SET jit = off;

CREATE OR REPLACE VIEW tickets.review_queue AS SELECT * FROM tickets.review_queue_rows();

-- Undo of a hand placement (the review page): an entry as it was (to_jsonb of its row, taken
-- before the change), written back whole, and its tickets re-resolved. Returns how many tickets
-- moved, NULL if there is no such entry.
CREATE OR REPLACE FUNCTION tickets.location_entry(p_key text) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT to_jsonb(l) FROM tickets.geo_locations l WHERE query = p_key $$;

CREATE OR REPLACE FUNCTION tickets.restore_location_entry(p_entry jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r tickets.geo_locations := jsonb_populate_record(NULL::tickets.geo_locations, p_entry);
BEGIN
    UPDATE tickets.geo_locations
       SET provider = r.provider, status = r.status, display_name = r.display_name, geom = r.geom,
           distance_km = r.distance_km, detail = r.detail, verified = r.verified, geocoded_at = r.geocoded_at,
           strategy = r.strategy, match_of = r.match_of, candidates = r.candidates
     WHERE query = r.query;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN tickets.reresolve_geom(ARRAY[r.cluster]);
END $$;

-- Where a location entry may be placed by hand: its cluster, and the cluster's point (NULL if none).
CREATE OR REPLACE FUNCTION tickets.location_cluster_point(p_key text)
RETURNS TABLE (cluster text, longitude double precision, latitude double precision)
LANGUAGE sql STABLE AS $$
    SELECT l.cluster, ST_X(c.geom), ST_Y(c.geom)
      FROM tickets.geo_locations l LEFT JOIN tickets.geo_clusters c ON c.cluster = l.cluster AND c.status = 'ok'
     WHERE l.query = p_key
$$;

-- The open tickets of a location entry, where they are now (the review page's map).
CREATE OR REPLACE FUNCTION tickets.review_tickets(p_key text)
RETURNS TABLE (ticket_id text, geo_source text, latitude double precision, longitude double precision)
LANGUAGE sql STABLE AS $$
    SELECT i.ticket_id, i.geo_source, ST_Y(i.geom), ST_X(i.geom)
      FROM tickets.geo_location_names n
      JOIN tickets.inc i ON i.location_name = n.location_name AND i.cluster = n.cluster
     WHERE n.query = p_key AND i.is_actionable
     ORDER BY i.ticket_id
$$;
