-- Analytics for dashboards (each over EAT days p_from..p_to): `fleettickets report NAME` prints
-- these. Every day series is built by date arithmetic (reporting.days): generate_series(date, date,
-- interval) resolves to timestamptz in the session's time zone, so where a DST change falls at
-- midnight or a day was skipped, a day went missing or came twice. reporting.days and
-- eat_day_start are defined in R__30_history.sql, whose daily backlog uses them first.

-- Creations (by the SLA clock) and closures per EAT day.
CREATE OR REPLACE FUNCTION reporting.fn_daily_flow(p_from date, p_to date)
RETURNS TABLE (day date, created bigint, closed bigint)
LANGUAGE sql STABLE AS $$
    WITH created AS (
        SELECT (tickets.sla_clock(created_at_service, first_seen_at) AT TIME ZONE 'Africa/Nairobi')::date AS day,
               count(*) AS n
          FROM tickets.inc
         WHERE tickets.sla_clock(created_at_service, first_seen_at) >= reporting.eat_day_start(p_from)
           AND tickets.sla_clock(created_at_service, first_seen_at) < reporting.eat_day_start(p_to + 1)
         GROUP BY 1),
    closed AS (
        SELECT (closed_at AT TIME ZONE 'Africa/Nairobi')::date AS day, count(*) AS n
          FROM tickets.inc
         WHERE closed_at >= reporting.eat_day_start(p_from) AND closed_at < reporting.eat_day_start(p_to + 1)
         GROUP BY 1)
    SELECT d.day, coalesce(c.n, 0), coalesce(x.n, 0)
      FROM reporting.days(p_from, p_to) d(day) LEFT JOIN created c USING (day) LEFT JOIN closed x USING (day)
     ORDER BY d.day
$$;

-- The backlog per EAT day. History covers the days from the first to the last in
-- reporting.inc_daily_backlog (the pipeline observed them, or filled them in as days without
-- change); outside them nothing was observed, so the figures are NULL, never 0. On history_start,
-- the first day, every ticket already open counts as opened.
CREATE OR REPLACE FUNCTION reporting.fn_backlog(p_from date, p_to date)
RETURNS TABLE (day date, open bigint, opened bigint, closed bigint, breached bigint, history_start boolean)
LANGUAGE sql STABLE AS $$
    WITH span AS (SELECT min(b.day) AS first_day, max(b.day) AS last_day FROM reporting.inc_daily_backlog b),
    days AS (
        SELECT d.day, d.day BETWEEN s.first_day AND s.last_day AS observed, d.day = s.first_day AS history_start
          FROM reporting.days(p_from, p_to) d(day) CROSS JOIN span s
    )
    SELECT d.day,
           CASE WHEN d.observed THEN coalesce(sum(b.open), 0) END,
           CASE WHEN d.observed THEN coalesce(sum(b.opened), 0) END,
           CASE WHEN d.observed THEN coalesce(sum(b.closed), 0) END,
           CASE WHEN d.observed THEN coalesce(sum(b.breached), 0) END,
           coalesce(d.history_start, false)
      FROM days d
      LEFT JOIN reporting.inc_daily_backlog b ON b.day = d.day
     GROUP BY d.day, d.observed, d.history_start
     ORDER BY d.day
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
-- the contract's rule (closed within tickets.sla_limit() of the SLA clock) side by side.
CREATE OR REPLACE FUNCTION reporting.fn_sla_compliance(p_from date, p_to date)
RETURNS TABLE (week date, cluster text, team text, closed bigint, source_compliant bigint, source_breached bigint,
               rule_met bigint, rule_missed bigint, rule_unknown bigint)
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('week', closed_at AT TIME ZONE 'Africa/Nairobi')::date,
           coalesce(cluster, ''), coalesce(assigned_team, ''),
           count(*),
           count(*) FILTER (WHERE sla_status = 'Compliant'),
           count(*) FILTER (WHERE sla_status = 'Breached'),
           count(*) FILTER (WHERE closed_at - tickets.sla_clock(created_at_service, first_seen_at) <= tickets.sla_limit()),
           count(*) FILTER (WHERE closed_at - tickets.sla_clock(created_at_service, first_seen_at) > tickets.sla_limit()),
           count(*) FILTER (WHERE tickets.sla_clock(created_at_service, first_seen_at) IS NULL)
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
