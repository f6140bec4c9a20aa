-- 21: honest reports. A backlog day with no history is NULL (not 0) and the first day of history
-- says so; every day series is built by date arithmetic. generate_series(date, date, interval)
-- resolves to timestamptz in the session's time zone, so where a DST change falls at midnight
-- (America/Santiago, Asia/Beirut) or a day was skipped (Pacific/Kiritimati, 1994-12-31) a day
-- went missing or came twice.

-- The EAT days p_from..p_to, in order, in any session time zone.
CREATE OR REPLACE FUNCTION reporting.days(p_from date, p_to date) RETURNS SETOF date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p_from + n FROM generate_series(0, p_to - p_from) n $$;

CREATE OR REPLACE FUNCTION reporting.fn_daily_flow(p_from date, p_to date)
RETURNS TABLE (day date, created bigint, closed bigint)
LANGUAGE sql STABLE AS $$
    WITH created AS (
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
      FROM reporting.days(p_from, p_to) d(day) LEFT JOIN created c USING (day) LEFT JOIN closed x USING (day)
     ORDER BY d.day
$$;

-- The backlog per EAT day. History covers the days from the first to the last in
-- reporting.inc_daily_backlog (the pipeline observed them, or filled them in as days without
-- change); outside them nothing was observed, so the figures are NULL, never 0. On history_start,
-- the first day, every ticket already open counts as opened.
DROP FUNCTION IF EXISTS reporting.fn_backlog(date, date);
CREATE FUNCTION reporting.fn_backlog(p_from date, p_to date)
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

-- Migration 13's rebuild of the backlog rows of p_from..p_to, its day loop now over reporting.days.
CREATE OR REPLACE FUNCTION reporting.refresh_daily_backlog(p_from date, p_to date,
                                                           p_state_is_current boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    day_start timestamptz;
    day_end timestamptz;
BEGIN
    DELETE FROM reporting.inc_daily_backlog WHERE day BETWEEN p_from AND p_to;
    FOR d IN SELECT reporting.days(p_from, p_to) LOOP
        day_start := reporting.eat_day_start(d);
        day_end := reporting.eat_day_start(d + 1);
        INSERT INTO reporting.inc_daily_backlog (day, cluster, team, open, opened, closed, breached)
        WITH replayed AS (  -- each ticket's last state by the end of the day, from the events
            SELECT e.ticket_id, (array_agg(e.is_open ORDER BY e.observed_at DESC, e.event_id DESC))[1] AS is_open
              FROM tickets.inc_events e
             WHERE NOT p_state_is_current AND e.observed_at < day_end
             GROUP BY e.ticket_id
        ), today AS (
            SELECT e.ticket_id,
                   bool_or(e.kind = 'reopened' OR (e.kind = 'created' AND e.is_open)) AS opened,
                   bool_or(e.kind = 'closed') AS closed
              FROM tickets.inc_events e
             WHERE e.observed_at >= day_start AND e.observed_at < day_end
             GROUP BY e.ticket_id
        ), state AS (
            SELECT i.*, CASE WHEN p_state_is_current THEN i.is_actionable ELSE r.is_open END AS open_then
              FROM tickets.inc i
              LEFT JOIN replayed r ON r.ticket_id = i.ticket_id
             WHERE p_state_is_current OR r.ticket_id IS NOT NULL
        )
        SELECT d, coalesce(s.cluster, ''), coalesce(s.assigned_team, ''),
               count(*) FILTER (WHERE s.open_then),
               count(*) FILTER (WHERE t.opened),
               count(*) FILTER (WHERE t.closed),
               count(*) FILTER (WHERE s.open_then AND day_end - coalesce(s.created_at_service, s.first_seen_at)
                                                        >= interval '48 hours')
          FROM state s
          LEFT JOIN today t ON t.ticket_id = s.ticket_id
         GROUP BY 1, 2, 3
        HAVING count(*) FILTER (WHERE s.open_then OR t.opened OR t.closed) > 0;
    END LOOP;
END $$;
