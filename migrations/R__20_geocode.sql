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
    dataset_table text;
    moved bigint;
    moved_count bigint := 0;
BEGIN
    FOREACH dataset_table IN ARRAY ARRAY['inc', 'crq'] LOOP
        EXECUTE format($sql$
            WITH moved AS (
                UPDATE tickets.%1$I i
                   SET geom = r.geom, geo_source = r.geo_source
                  FROM tickets.%1$I j CROSS JOIN LATERAL tickets.resolve_geom(j.raw) r
                 WHERE i.ticket_id = j.ticket_id
                   AND ($1 IS NULL OR j.cluster = ANY ($1))
                   AND (i.geom, i.geo_source) IS DISTINCT FROM (r.geom, r.geo_source)
                RETURNING 1
            )
            SELECT count(*) FROM moved
        $sql$, dataset_table) USING p_clusters INTO moved;
        moved_count := moved_count + moved;
    END LOOP;
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

-- Hand changes (migration 32): each is a row of tickets.placements, with the entry before and
-- after as gazetteer_row() reads it, who (the role, and the name the reviewer gave) and when.

-- An entry as stored, whole, NULL if there is none: to_jsonb of its row, with the point as hex EWKB
-- (exact: to_jsonb would write PostGIS's GeoJSON, rounded) and times in UTC whatever the session's
-- zone, so two readings of an unchanged entry are equal.
CREATE OR REPLACE FUNCTION tickets.gazetteer_row(p_kind text, p_key text) RETURNS jsonb
LANGUAGE sql STABLE SET TimeZone = 'UTC' AS $$
    SELECT to_jsonb(c) || jsonb_build_object('geom', c.geom::text)
      FROM tickets.geo_clusters c WHERE p_kind = 'cluster' AND c.cluster = p_key
    UNION ALL
    SELECT to_jsonb(l) || jsonb_build_object('geom', l.geom::text)
      FROM tickets.geo_locations l WHERE p_kind = 'location' AND l.query = p_key
$$;

-- The same, locked until the transaction ends: a concurrent hand change waits, so the "before" a
-- placement records is what it overwrote, and a revert compares against what it overwrites.
CREATE OR REPLACE FUNCTION tickets.lock_gazetteer_row(p_kind text, p_key text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF p_kind = 'cluster' THEN
        PERFORM FROM tickets.geo_clusters WHERE cluster = p_key FOR UPDATE;
    ELSE
        PERFORM FROM tickets.geo_locations WHERE query = p_key FOR UPDATE;
    END IF;
    RETURN tickets.gazetteer_row(p_kind, p_key);
END $$;

-- Write an entry back as gazetteer_row() read it (its key and cluster stay).
CREATE OR REPLACE FUNCTION tickets.restore_gazetteer_row(p_kind text, p_row jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_kind = 'cluster' THEN
        UPDATE tickets.geo_clusters g
           SET (query, provider, status, display_name, geom, detail, verified, geocoded_at, strategy)
             = (r.query, r.provider, r.status, r.display_name, r.geom, r.detail, r.verified, r.geocoded_at, r.strategy)
          FROM jsonb_populate_record(NULL::tickets.geo_clusters, p_row) r
         WHERE g.cluster = r.cluster;
    ELSE
        UPDATE tickets.geo_locations g
           SET (provider, status, display_name, geom, distance_km, detail, verified, geocoded_at, strategy, match_of,
                candidates)
             = (r.provider, r.status, r.display_name, r.geom, r.distance_km, r.detail, r.verified, r.geocoded_at,
                r.strategy, r.match_of, r.candidates)
          FROM jsonb_populate_record(NULL::tickets.geo_locations, p_row) r
         WHERE g.query = r.query;
    END IF;
END $$;

-- Record a hand change just made (the entry as it is now is its "after"); returns its number.
CREATE OR REPLACE FUNCTION tickets.record_placement(p_kind text, p_key text, p_action text, p_reviewer text,
                                                    p_before jsonb, p_reverts bigint DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO tickets.placements (kind, key, action, reverts, reviewer, before, after)
    VALUES (p_kind, p_key, p_action, p_reverts, nullif(btrim(p_reviewer), ''), p_before,
            tickets.gazetteer_row(p_kind, p_key))
    RETURNING id
$$;

-- How listings and refusals name a placement: 'set by alice (role fleet) at 2026-06-15 09:30 EAT'
-- (the name a reviewer gave is their word; the role is the login's).
CREATE OR REPLACE FUNCTION tickets.placement_by(p tickets.placements) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT format('%s by %s at %s EAT', p.action,
                  CASE WHEN p.reviewer IS NULL THEN p.db_role ELSE format('%s (role %s)', p.reviewer, p.db_role) END,
                  to_char(p.placed_at AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM-DD HH24:MI'))
$$;

-- Mark an entry checked by hand; if that changes it (it was unverified), it is a placement.
-- No row if there is no such entry; placement NULL if it was verified already.
CREATE OR REPLACE FUNCTION tickets.verify_entry(p_kind text, p_key text, p_reviewer text DEFAULT NULL)
RETURNS TABLE (placement bigint)
LANGUAGE plpgsql AS $$
DECLARE
    before constant jsonb := tickets.lock_gazetteer_row(p_kind, p_key);
BEGIN
    IF before IS NULL THEN
        RETURN;
    END IF;
    IF NOT (before -> 'verified')::boolean THEN
        IF p_kind = 'cluster' THEN
            UPDATE tickets.geo_clusters SET verified = true WHERE cluster = p_key;
        ELSE
            UPDATE tickets.geo_locations SET verified = true WHERE query = p_key;
        END IF;
        placement := tickets.record_placement(p_kind, p_key, 'verify', p_reviewer, before);
    END IF;
    RETURN NEXT;
END $$;

-- Set an entry's point by hand: it becomes ok, verified, provider 'manual', and its tickets are
-- re-resolved now. Returns the placement and how many tickets moved; no row if there is no such entry.
CREATE OR REPLACE FUNCTION tickets.set_entry_point(p_kind text, p_key text, p_lng double precision,
                                                   p_lat double precision, p_reviewer text DEFAULT NULL)
RETURNS TABLE (placement bigint, moved bigint)
LANGUAGE plpgsql AS $$
DECLARE
    point constant geometry := ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326);
    before constant jsonb := tickets.lock_gazetteer_row(p_kind, p_key);
BEGIN
    IF before IS NULL THEN
        RETURN;
    END IF;
    IF p_kind = 'cluster' THEN
        UPDATE tickets.geo_clusters
           SET geom = point, status = 'ok', verified = true, provider = 'manual', detail = NULL, geocoded_at = now()
         WHERE cluster = p_key;
    ELSE
        UPDATE tickets.geo_locations
           SET geom = point, status = 'ok', verified = true, provider = 'manual', detail = NULL,
               distance_km = NULL, match_of = NULL, geocoded_at = now()
         WHERE query = p_key;
    END IF;
    placement := tickets.record_placement(p_kind, p_key, 'set', p_reviewer, before);
    moved := tickets.reresolve_geom(ARRAY[before ->> 'cluster']);
    RETURN NEXT;
END $$;

-- Undo, from the trail: put the entry back as it was before placement p_id, provided it is still
-- what that placement left; otherwise refused, naming the last placement since (or saying that no
-- placement changed it). The revert is a placement too, and can be reverted in turn. Returns it,
-- the entry, and how many tickets moved.
CREATE OR REPLACE FUNCTION tickets.revert_placement(p_id bigint, p_reviewer text DEFAULT NULL)
RETURNS TABLE (placement bigint, entry_kind text, entry_key text, moved bigint)
LANGUAGE plpgsql AS $$
DECLARE
    target tickets.placements;
    since tickets.placements;
    current_row jsonb;
BEGIN
    SELECT * INTO target FROM tickets.placements p WHERE p.id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no placement % (see `fleettickets gazetteer history`)', p_id;
    END IF;
    current_row := tickets.lock_gazetteer_row(target.kind, target.key);
    IF current_row IS DISTINCT FROM target.after THEN
        SELECT * INTO since FROM tickets.placements p
         WHERE p.kind = target.kind AND p.key = target.key AND p.id > target.id
         ORDER BY p.id DESC LIMIT 1;
        RAISE EXCEPTION 'placement % not reverted: % % has changed since, %', p_id, target.kind,
            quote_literal(target.key),
            CASE WHEN since.id IS NOT NULL THEN format('by placement %s (%s)', since.id, tickets.placement_by(since))
                 WHEN current_row IS NULL THEN 'and is gone'
                 ELSE format('not by a placement (a geocoding run or another writer, at %s EAT)',
                             to_char((current_row ->> 'geocoded_at')::timestamptz AT TIME ZONE 'Africa/Nairobi',
                                     'YYYY-MM-DD HH24:MI'))
            END;
    END IF;
    PERFORM tickets.restore_gazetteer_row(target.kind, target.before);
    -- A column restore_gazetteer_row does not write would be lost here, silently: refuse instead.
    IF tickets.gazetteer_row(target.kind, target.key) IS DISTINCT FROM target.before THEN
        RAISE EXCEPTION 'placement % not reverted: % % cannot be written back whole (a column restore_gazetteer_row does not know)',
            p_id, target.kind, quote_literal(target.key);
    END IF;
    placement := tickets.record_placement(target.kind, target.key, 'revert', p_reviewer, current_row, target.id);
    entry_kind := target.kind;
    entry_key := target.key;
    moved := tickets.reresolve_geom(ARRAY[target.before ->> 'cluster']);
    RETURN NEXT;
END $$;

-- The trail as `gazetteer history` lists it: each placement, its entry's state before and after.
CREATE OR REPLACE VIEW tickets.placement_history AS
SELECT p.id, p.kind, p.key, p.action, p.reverts, p.db_role, p.reviewer, p.placed_at,
       tickets.placement_by(p) AS described,
       p.before ->> 'status' AS status_before, (p.before ->> 'verified')::boolean AS verified_before,
       ST_Y((p.before ->> 'geom')::geometry) AS latitude_before, ST_X((p.before ->> 'geom')::geometry) AS longitude_before,
       p.after ->> 'status' AS status_after, (p.after ->> 'verified')::boolean AS verified_after,
       ST_Y((p.after ->> 'geom')::geometry) AS latitude_after, ST_X((p.after ->> 'geom')::geometry) AS longitude_after
  FROM tickets.placements p;

-- Both gazetteers side by side (`gazetteer list`), with where a reuse took its point (match_of)
-- and each entry's last placement (its provenance: who placed or verified it, and when).
CREATE OR REPLACE VIEW tickets.gazetteer AS
SELECT 'cluster'::text AS kind, cluster AS key, cluster, status, verified, provider, display_name,
       ST_Y(geom) AS latitude, ST_X(geom) AS longitude, NULL::double precision AS distance_km, detail, geocoded_at,
       NULL::text AS match_of, last.id AS placement, last.described AS placed
  FROM tickets.geo_clusters c
  LEFT JOIN LATERAL (SELECT p.id, tickets.placement_by(p) AS described FROM tickets.placements p
                      WHERE p.kind = 'cluster' AND p.key = c.cluster ORDER BY p.id DESC LIMIT 1) last ON true
UNION ALL
SELECT 'location', query, cluster, status, verified, provider, display_name,
       ST_Y(geom), ST_X(geom), distance_km, detail, geocoded_at, match_of, last.id, last.described
  FROM tickets.geo_locations l
  LEFT JOIN LATERAL (SELECT p.id, tickets.placement_by(p) AS described FROM tickets.placements p
                      WHERE p.kind = 'location' AND p.key = l.query ORDER BY p.id DESC LIMIT 1) last ON true;

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

-- The far rule's distance (tests/test_places.py holds it to 10 km either side of the line): an
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
