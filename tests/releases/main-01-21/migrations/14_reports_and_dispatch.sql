-- 14: analytics for dashboards (each over EAT days p_from..p_to) and nearest-ticket dispatch.
-- `fleettickets report NAME` and `fleettickets nearest` print these.

-- EAT day -> the instant it starts.
CREATE OR REPLACE FUNCTION reporting.eat_day_start(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT d::timestamp AT TIME ZONE 'Africa/Nairobi' $$;

-- Creations (clock: created_at_service, else first_seen_at) and closures per EAT day.
CREATE OR REPLACE FUNCTION reporting.fn_daily_flow(p_from date, p_to date)
RETURNS TABLE (day date, created bigint, closed bigint)
LANGUAGE sql STABLE AS $$
    WITH days AS (SELECT generate_series(p_from, p_to, interval '1 day')::date AS day),
    created AS (
        SELECT (coalesce(created_at_service, first_seen_at) AT TIME ZONE 'Africa/Nairobi')::date AS day, count(*) AS n
          FROM tickets.inc
         WHERE coalesce(created_at_service, first_seen_at) >= reporting.eat_day_start(p_from)
           AND coalesce(created_at_service, first_seen_at) < reporting.eat_day_start(p_to + 1)
         GROUP BY 1),
    closed AS (
        SELECT (closed_at AT TIME ZONE 'Africa/Nairobi')::date AS day, count(*) AS n
          FROM tickets.inc
         WHERE closed_at >= reporting.eat_day_start(p_from) AND closed_at < reporting.eat_day_start(p_to + 1)
         GROUP BY 1)
    SELECT d.day, coalesce(c.n, 0), coalesce(x.n, 0)
      FROM days d LEFT JOIN created c USING (day) LEFT JOIN closed x USING (day)
     ORDER BY d.day
$$;

-- Open backlog over time, from the daily snapshot built out of the event history.
CREATE OR REPLACE FUNCTION reporting.fn_backlog(p_from date, p_to date)
RETURNS TABLE (day date, open bigint, opened bigint, closed bigint, breached bigint)
LANGUAGE sql STABLE AS $$
    SELECT d::date, coalesce(sum(b.open), 0), coalesce(sum(b.opened), 0), coalesce(sum(b.closed), 0),
           coalesce(sum(b.breached), 0)
      FROM generate_series(p_from, p_to, interval '1 day') d
      LEFT JOIN reporting.inc_daily_backlog b ON b.day = d::date
     GROUP BY 1 ORDER BY 1
$$;

-- MTTR per EAT week of closure: the source's mttr and the wall clock (closed_at minus
-- created_at_service, where both exist) side by side, in minutes. They differ by design.
CREATE OR REPLACE FUNCTION reporting.fn_mttr_trend(p_from date, p_to date)
RETURNS TABLE (week date, closed bigint, source_median_min numeric, source_p90_min numeric,
               wall_clock_n bigint, wall_median_min numeric, wall_p90_min numeric)
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('week', closed_at AT TIME ZONE 'Africa/Nairobi')::date,
           count(*),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY mttr)::numeric, 1),
           round(percentile_cont(0.9) WITHIN GROUP (ORDER BY mttr)::numeric, 1),
           count(created_at_service),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at_service) / 60)
                 ::numeric, 1),
           round(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at_service) / 60)
                 ::numeric, 1)
      FROM tickets.inc
     WHERE closed_at >= reporting.eat_day_start(p_from) AND closed_at < reporting.eat_day_start(p_to + 1)
     GROUP BY 1 ORDER BY 1
$$;

-- SLA compliance of closed tickets per EAT week, cluster and team: the source's sla_status and
-- the contract's rule (closed within 48 h of created_at_service, else first_seen_at) side by side.
CREATE OR REPLACE FUNCTION reporting.fn_sla_compliance(p_from date, p_to date)
RETURNS TABLE (week date, cluster text, team text, closed bigint, source_compliant bigint, source_breached bigint,
               rule_met bigint, rule_missed bigint, rule_unknown bigint)
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('week', closed_at AT TIME ZONE 'Africa/Nairobi')::date,
           coalesce(cluster, ''), coalesce(assigned_team, ''),
           count(*),
           count(*) FILTER (WHERE sla_status = 'Compliant'),
           count(*) FILTER (WHERE sla_status = 'Breached'),
           count(*) FILTER (WHERE closed_at - coalesce(created_at_service, first_seen_at) <= interval '48 hours'),
           count(*) FILTER (WHERE closed_at - coalesce(created_at_service, first_seen_at) > interval '48 hours'),
           count(*) FILTER (WHERE coalesce(created_at_service, first_seen_at) IS NULL)
      FROM tickets.inc
     WHERE closed_at >= reporting.eat_day_start(p_from) AND closed_at < reporting.eat_day_start(p_to + 1)
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;

-- Closure attribution: closures per EAT week, team and owner.
CREATE OR REPLACE FUNCTION reporting.fn_team_closures(p_from date, p_to date)
RETURNS TABLE (week date, team text, owner text, closed bigint)
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('week', closed_at AT TIME ZONE 'Africa/Nairobi')::date,
           coalesce(assigned_team, ''), coalesce(owner, ''), count(*)
      FROM tickets.inc
     WHERE closed_at >= reporting.eat_day_start(p_from) AND closed_at < reporting.eat_day_start(p_to + 1)
     GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC, 2, 3
$$;

-- Data quality of the tickets first seen in the range, and the feed's content lag: how far the
-- newest ticket update trails the last ingested snapshot's stamp.
CREATE OR REPLACE FUNCTION reporting.fn_data_quality(p_from date, p_to date)
RETURNS TABLE (measure text, value numeric)
LANGUAGE sql STABLE AS $$
    WITH t AS (
        SELECT * FROM tickets.inc
         WHERE first_seen_at >= reporting.eat_day_start(p_from) AND first_seen_at < reporting.eat_day_start(p_to + 1)
    )
    SELECT 'tickets', count(*)::numeric FROM t
    UNION ALL
    SELECT 'share_missing_created_at_service', round(avg((created_at_service IS NULL)::int), 4) FROM t
    UNION ALL
    SELECT 'share_missing_assigned_team', round(avg((assigned_team IS NULL)::int), 4) FROM t
    UNION ALL
    SELECT 'content_lag_hours',
           round((extract(epoch FROM (SELECT snapshot_at FROM tickets.import_meta WHERE dataset = 'inc')
                                     - (SELECT max(source_updated_at) FROM tickets.inc)) / 3600)::numeric, 1)
$$;

-- Dispatch: the open tickets nearest a point, by KNN over the GiST index on geog. A plain SQL
-- function, so PostgreSQL inlines it and the point reaches the index as a constant.
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
     ORDER BY s.geog <-> ST_SetSRID(ST_MakePoint(p_lng, p_lat), 4326)::geography
     LIMIT p_limit
$$;
