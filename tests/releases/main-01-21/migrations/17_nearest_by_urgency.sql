-- 17: dispatch order. Many open tickets share one point (a location or a cluster centre), so at
-- the same distance the most urgent comes first: breached, at_risk, ok (then a ticket with no
-- clock), and within a state the longest open. geo_source says how precise each position is
-- (location, cluster, feed); p_precision keeps only one kind.
-- PostgreSQL does not add tie-break keys on top of a KNN index scan (it would sort every open
-- ticket), so: the KNN scan finds the distance of the p_limit-th nearest (the edge), then the
-- tickets within the edge (ST_DWithin, on the same index; ties at the edge included) are sorted.
-- Both steps measure on the sphere, as <-> does; the centimetre of slack keeps exact ties in. The
-- filters are written out in both steps: a shared CTE would be materialised and lose the index.

CREATE OR REPLACE FUNCTION reporting.fn_nearest_open_tickets(
    p_lng double precision, p_lat double precision, p_limit integer DEFAULT 10,
    p_radius_m double precision DEFAULT NULL, p_precision text DEFAULT NULL)
RETURNS TABLE (ticket_id text, cluster text, location_name text, sla_state text, hours_open numeric,
               metres integer, geo_source text, latitude double precision, longitude double precision)
LANGUAGE sql STABLE AS $$
    SELECT s.ticket_id, s.cluster, s.location_name, s.sla_state, s.hours_open,
           round(ST_Distance(s.geog, ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography))::integer,
           s.geo_source, s.latitude, s.longitude
      FROM tickets.inc_open_sla s
     WHERE s.geog IS NOT NULL
       AND (p_precision IS NULL OR s.geo_source = p_precision)
       AND (p_radius_m IS NULL OR ST_DWithin(s.geog, ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography,
                                             p_radius_m))
       AND ST_DWithin(s.geog, ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography, 0.01 + (
               SELECT max(k.d) FROM (
                   SELECT e.geog <-> ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography AS d
                     FROM tickets.inc_open_sla e
                    WHERE e.geog IS NOT NULL
                      AND (p_precision IS NULL OR e.geo_source = p_precision)
                      AND (p_radius_m IS NULL
                           OR ST_DWithin(e.geog, ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography, p_radius_m))
                    ORDER BY e.geog <-> ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography
                    LIMIT p_limit) k), false)
     ORDER BY s.geog <-> ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography,
              array_position(ARRAY['breached', 'at_risk', 'ok'], s.sla_state) NULLS LAST,
              s.hours_open DESC NULLS LAST,
              s.ticket_id
     LIMIT p_limit
$$;
