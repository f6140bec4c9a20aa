-- 11: writing to the gazetteers, in one place. A geocoding run stores every outcome through
-- save_cluster / save_location; a row an operator has verified is never overwritten. Hand
-- fixes (set_point) mark the row verified and re-resolve its tickets at once. The review view
-- lists both gazetteers side by side.

CREATE OR REPLACE FUNCTION tickets.save_cluster(
    p_cluster text, p_query text, p_provider text, p_status text, p_display_name text,
    p_lng double precision, p_lat double precision, p_detail text) RETURNS boolean
LANGUAGE sql AS $$
    WITH saved AS (
        INSERT INTO tickets.geo_clusters AS g (cluster, query, provider, status, display_name, geom, detail)
        VALUES (p_cluster, p_query, p_provider, p_status, p_display_name,
                ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326), p_detail)
        ON CONFLICT (cluster) DO UPDATE
            SET query = EXCLUDED.query, provider = EXCLUDED.provider, status = EXCLUDED.status,
                display_name = EXCLUDED.display_name, geom = EXCLUDED.geom, detail = EXCLUDED.detail,
                geocoded_at = now()
            WHERE NOT g.verified
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM saved)
$$;

-- p_names: every raw location_name (in p_cluster) that normalises to this query.
CREATE OR REPLACE FUNCTION tickets.save_location(
    p_query text, p_place text, p_cluster text, p_provider text, p_status text, p_display_name text,
    p_lng double precision, p_lat double precision, p_distance_km double precision, p_detail text,
    p_names text[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    saved boolean;
BEGIN
    INSERT INTO tickets.geo_locations AS g
           (query, place, cluster, provider, status, display_name, geom, distance_km, detail)
    VALUES (p_query, p_place, p_cluster, p_provider, p_status, p_display_name,
            ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326), p_distance_km, p_detail)
    ON CONFLICT (query) DO UPDATE
        SET provider = EXCLUDED.provider, status = EXCLUDED.status, display_name = EXCLUDED.display_name,
            geom = EXCLUDED.geom, distance_km = EXCLUDED.distance_km, detail = EXCLUDED.detail,
            geocoded_at = now()
        WHERE NOT g.verified;
    saved := FOUND;
    PERFORM tickets.add_location_names(p_query, p_cluster, p_names);
    RETURN saved;
END $$;

CREATE OR REPLACE FUNCTION tickets.add_location_names(p_query text, p_cluster text, p_names text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.geo_location_names (location_name, cluster, query)
    SELECT DISTINCT n, p_cluster, p_query FROM unnest(p_names) AS n
    ON CONFLICT (location_name, cluster) DO UPDATE SET query = EXCLUDED.query
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
               distance_km = NULL, geocoded_at = now()
         WHERE query = p_key RETURNING cluster INTO affected;
    END IF;
    IF affected IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN tickets.reresolve_geom(ARRAY[affected]);
END $$;
