-- History: the events the ingest writes for each change, the daily backlog built from them, and
-- the replay of archived snapshots (fleettickets history rebuild).

-- EAT day -> the instant it starts.
CREATE OR REPLACE FUNCTION reporting.eat_day_start(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT d::timestamp AT TIME ZONE 'Africa/Nairobi' $$;

-- The EAT days p_from..p_to, in order, in any session time zone.
CREATE OR REPLACE FUNCTION reporting.days(p_from date, p_to date) RETURNS SETOF date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p_from + n FROM generate_series(0, p_to - p_from) n $$;

-- The keys whose value differs from old to new (a key gone from new reads as null).
CREATE OR REPLACE FUNCTION tickets.jsonb_changes(old jsonb, new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, new -> k), '{}'::jsonb)
      FROM (SELECT jsonb_object_keys(coalesce(old, '{}'::jsonb)) UNION SELECT jsonb_object_keys(new)) keys(k)
     WHERE old -> k IS DISTINCT FROM new -> k
$$;

-- One event from a ticket's raw before (NULL: new ticket) and after. A created event carries no
-- diff: its state is in new_status / is_open, and the row itself.
-- Set-returning (exactly one row), so PostgreSQL inlines it into the merge's and the replay's
-- INSERT; a function returning one record is called row by row.
CREATE OR REPLACE FUNCTION tickets.inc_event(old jsonb, new jsonb)
RETURNS TABLE (kind text, old_status text, new_status text, is_open boolean, changed jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
               WHEN old IS NULL THEN 'created'
               WHEN tickets.to_bool(old ->> 'is_actionable') AND NOT tickets.to_bool(new ->> 'is_actionable')
                   THEN 'closed'
               WHEN NOT tickets.to_bool(old ->> 'is_actionable') AND tickets.to_bool(new ->> 'is_actionable')
                   THEN 'reopened'
               WHEN old ->> 'normalized_status' IS DISTINCT FROM new ->> 'normalized_status' THEN 'status_changed'
               ELSE 'updated'
           END,
           old ->> 'normalized_status',
           new ->> 'normalized_status',
           tickets.to_bool(new ->> 'is_actionable'),
           CASE WHEN old IS NULL THEN '{}'::jsonb ELSE tickets.jsonb_changes(old, new) END
$$;

-- Rebuild the backlog rows of the EAT days p_from..p_to from the events. Each ticket's state at
-- the end of a day is its last event by then; with p_state_is_current (the live ingest, which only
-- ever refreshes the newest day it observed) that state is read from tickets.inc instead, which
-- saves aggregating the whole event log every hour. Cluster, team and the SLA clock are the
-- tickets' current values; breached counts the tickets open at the end of the day whose SLA state
-- then was breached.
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
               count(*) FILTER (WHERE s.open_then AND tickets.sla_state_at(
                                        tickets.sla_clock(s.created_at_service, s.first_seen_at), day_end) = 'breached')
          FROM state s
          LEFT JOIN today t ON t.ticket_id = s.ticket_id
         GROUP BY 1, 2, 3
        HAVING count(*) FILTER (WHERE s.open_then OR t.opened OR t.closed) > 0;
    END LOOP;
END $$;

-- After a live ingest observed on p_day: that day's row from the current state, and first the
-- rows of any earlier days that have none (days on which the pipeline saw no change at all). A
-- snapshot older than the newest backlog day (a --csv ingest of an old file; the bucket path never
-- loads one) changes the history of its day and of every day after it: those are rebuilt from the
-- events rather than refreshing the old day from today's state.
CREATE OR REPLACE FUNCTION reporting.keep_daily_backlog(p_day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_day constant date := (SELECT max(day) FROM reporting.inc_daily_backlog);
BEGIN
    IF last_day > p_day THEN
        PERFORM reporting.refresh_daily_backlog(p_day, last_day);
        RETURN;
    END IF;
    IF last_day < p_day - 1 THEN  -- days on which the pipeline saw no change at all
        PERFORM reporting.refresh_daily_backlog(last_day + 1, p_day - 1);
    END IF;
    PERFORM reporting.refresh_daily_backlog(p_day, p_day, true);
END $$;

-- History rebuild (fleettickets history rebuild): archived files are replayed, in the order they
-- apply, against pg_temp.inc_replay (the state as of the file replayed), never against tickets.inc,
-- under the same version rule as the live merge.
CREATE OR REPLACE FUNCTION tickets.begin_replay() RETURNS void
LANGUAGE sql AS $$
    TRUNCATE tickets.inc_events RESTART IDENTITY;
    TRUNCATE reporting.inc_daily_backlog;
    CREATE TEMP TABLE IF NOT EXISTS inc_replay (ticket_id text PRIMARY KEY, raw jsonb NOT NULL,
                                                row_stamp timestamptz NOT NULL) ON COMMIT DROP;
$$;

CREATE OR REPLACE FUNCTION tickets.replay_stage(p_source_key text, p_observed_at timestamptz) RETURNS bigint
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    added bigint;
BEGIN
    ANALYZE pg_temp.stage;
    WITH latest AS MATERIALIZED (  -- as the live merge does (tickets.merge_stage), against the replayed state
        SELECT s.ticket_id, s.raw, r.raw AS old_raw, tickets.eat_ts(r.raw ->> 'updated_at') AS stored_updated,
               r.row_stamp AS stored_stamp
          FROM pg_temp.stage s
          LEFT JOIN pg_temp.inc_replay r ON r.ticket_id = s.ticket_id
         WHERE NOT EXISTS (SELECT 1 FROM pg_temp.stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
    ), changes AS MATERIALIZED (
        SELECT l.ticket_id, l.raw, l.old_raw
          FROM latest l
         WHERE l.old_raw IS DISTINCT FROM l.raw
           AND NOT tickets.older_than_stored(tickets.eat_ts(l.raw ->> 'updated_at'), p_observed_at, l.stored_updated,
                                             l.stored_stamp)
    ), confirmed AS (
        UPDATE pg_temp.inc_replay r SET row_stamp = p_observed_at
          FROM latest l
         WHERE r.ticket_id = l.ticket_id AND l.old_raw = l.raw
           AND tickets.confirms_stamp(l.stored_updated, l.stored_stamp, p_observed_at)
    ), history AS (
        INSERT INTO tickets.inc_events (ticket_id, observed_at, source_key, kind, old_status, new_status, is_open,
                                        changed)
        SELECT c.ticket_id, p_observed_at, p_source_key, e.*
          FROM changes c CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e
        RETURNING 1
    ), state AS (
        INSERT INTO pg_temp.inc_replay (ticket_id, raw, row_stamp) SELECT c.ticket_id, c.raw, p_observed_at FROM changes c
        ON CONFLICT (ticket_id) DO UPDATE SET raw = EXCLUDED.raw, row_stamp = EXCLUDED.row_stamp
    )
    SELECT count(*) INTO added FROM history;
    TRUNCATE pg_temp.stage;
    RETURN added;
END $$;
