-- 13: history. tickets.inc is current state; tickets.inc_events keeps what changed, append-only,
-- written by the ingest in the same transaction as its upsert (one event per ticket per change;
-- unchanged rows and re-ingests add nothing). reporting.inc_daily_backlog is built from the
-- events per EAT day, cluster and team, so any past day can be rebuilt; each ingest refreshes
-- only the day it observed.

CREATE TABLE IF NOT EXISTS tickets.inc_events (
    event_id        bigserial PRIMARY KEY,
    ticket_id       text NOT NULL,
    observed_at     timestamptz NOT NULL,   -- the snapshot's stamp (else when it was ingested)
    source_key      text,
    kind            text NOT NULL CHECK (kind IN ('created', 'status_changed', 'closed', 'reopened', 'updated')),
    old_status      text,
    new_status      text,
    is_open         boolean,                -- is_actionable after the change
    changed         jsonb NOT NULL,         -- the keys of raw whose value changed: {key: new value}
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS inc_events_ticket_idx ON tickets.inc_events (ticket_id, observed_at);
CREATE INDEX IF NOT EXISTS inc_events_observed_idx ON tickets.inc_events (observed_at);

-- The keys whose value differs from old to new (a key gone from new reads as null).
CREATE OR REPLACE FUNCTION tickets.jsonb_changes(old jsonb, new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, new -> k), '{}'::jsonb)
      FROM (SELECT jsonb_object_keys(coalesce(old, '{}'::jsonb)) UNION SELECT jsonb_object_keys(new)) keys(k)
     WHERE old -> k IS DISTINCT FROM new -> k
$$;

-- One event from a ticket's raw before (NULL: new ticket) and after. A created event carries no
-- diff: its state is in new_status / is_open, and the row itself.
CREATE OR REPLACE FUNCTION tickets.inc_event(old jsonb, new jsonb,
    OUT kind text, OUT old_status text, OUT new_status text, OUT is_open boolean, OUT changed jsonb)
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

CREATE TABLE IF NOT EXISTS reporting.inc_daily_backlog (
    day      date NOT NULL,            -- EAT
    cluster  text NOT NULL,            -- '' when the ticket has none
    team     text NOT NULL,            -- assigned_team, '' when none
    open     integer NOT NULL,         -- open at the end of the day
    opened   integer NOT NULL,         -- created open, or reopened, that day
    closed   integer NOT NULL,         -- closed that day
    breached integer NOT NULL,         -- open at the end of the day with its SLA clock >= 48 h
    PRIMARY KEY (day, cluster, team)
);

-- Rebuild the backlog rows of the EAT days p_from..p_to from the events. Each ticket's state at
-- the end of a day is its last event by then; with p_state_is_current (the live ingest, which only
-- ever refreshes the newest day it observed) that state is read from tickets.inc instead, which
-- saves aggregating the whole event log every hour. Cluster, team and the SLA clock are the
-- tickets' current values.
CREATE OR REPLACE FUNCTION reporting.refresh_daily_backlog(p_from date, p_to date,
                                                           p_state_is_current boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    day_start timestamptz;
    day_end timestamptz;
BEGIN
    DELETE FROM reporting.inc_daily_backlog WHERE day BETWEEN p_from AND p_to;
    FOR d IN SELECT generate_series(p_from, p_to, interval '1 day')::date LOOP
        day_start := d::timestamp AT TIME ZONE 'Africa/Nairobi';
        day_end := (d + 1)::timestamp AT TIME ZONE 'Africa/Nairobi';
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

-- After a live ingest observed on p_day: that day's row from the current state, and first the
-- rows of any earlier days that have none (days on which the pipeline saw no change at all).
CREATE OR REPLACE FUNCTION reporting.keep_daily_backlog(p_day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_day constant date := (SELECT max(day) FROM reporting.inc_daily_backlog WHERE day < p_day);
BEGIN
    IF last_day < p_day - 1 THEN
        PERFORM reporting.refresh_daily_backlog(last_day + 1, p_day - 1);
    END IF;
    PERFORM reporting.refresh_daily_backlog(p_day, p_day, true);
END $$;

-- The merge now also writes the events of what it changed, and refreshes the day it observed.
DROP FUNCTION IF EXISTS tickets.merge_inc_stage(boolean);
DROP FUNCTION IF EXISTS tickets.inc_stage_changes();

SET LOCAL check_function_bodies = off;  -- the bodies name the loader's session temp table

CREATE OR REPLACE FUNCTION tickets.inc_stage_changes()
RETURNS TABLE (ticket_id text, raw jsonb, old_raw jsonb)
LANGUAGE sql STABLE AS $$
    SELECT s.ticket_id, s.raw, i.raw
      FROM pg_temp.inc_stage s
      LEFT JOIN tickets.inc i ON i.ticket_id = s.ticket_id
     WHERE NOT EXISTS (SELECT 1 FROM pg_temp.inc_stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
       AND i.raw IS DISTINCT FROM s.raw
$$;

CREATE OR REPLACE FUNCTION tickets.merge_inc_stage(
    p_apply boolean, p_source_key text DEFAULT NULL, p_observed_at timestamptz DEFAULT NULL,
    p_history boolean DEFAULT true,
    OUT rows_staged bigint, OUT tickets bigint, OUT inserted bigint, OUT updated bigint, OUT unchanged bigint,
    OUT events bigint)
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    observed constant timestamptz := coalesce(p_observed_at, now());
BEGIN
    ANALYZE pg_temp.inc_stage;   -- temp tables are never auto-analysed; the joins need the row count
    SELECT count(*), count(DISTINCT s.ticket_id) INTO rows_staged, tickets FROM pg_temp.inc_stage s;
    events := 0;
    IF NOT p_apply THEN
        SELECT count(*) FILTER (WHERE c.old_raw IS NULL), count(*) FILTER (WHERE c.old_raw IS NOT NULL)
          INTO inserted, updated FROM tickets.inc_stage_changes() c;
        unchanged := tickets - inserted - updated;
        RETURN;
    END IF;
    -- positions are resolved here, set-based; the per-row trigger stands aside meanwhile
    PERFORM set_config('fleettickets.geom_resolved', 'on', true);
    WITH changes AS MATERIALIZED (
        SELECT * FROM tickets.inc_stage_changes()
    ), history AS (
        INSERT INTO tickets.inc_events (ticket_id, observed_at, source_key, kind, old_status, new_status, is_open,
                                        changed)
        SELECT c.ticket_id, observed, p_source_key, e.*
          FROM changes c CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e
         WHERE p_history
        RETURNING 1
    ), up AS (
        INSERT INTO tickets.inc AS t (ticket_id, raw, geom, geo_source)
        SELECT c.ticket_id, c.raw, r.geom, r.geo_source
          FROM changes c CROSS JOIN LATERAL tickets.resolve_geom(c.raw) r
        ON CONFLICT (ticket_id) DO UPDATE
            SET raw = EXCLUDED.raw, geom = EXCLUDED.geom, geo_source = EXCLUDED.geo_source, ingested_at = now()
            WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
        RETURNING (t.xmax = 0) AS is_new
    )
    SELECT count(*) FILTER (WHERE up.is_new), count(*) FILTER (WHERE NOT up.is_new), (SELECT count(*) FROM history)
      INTO inserted, updated, events FROM up;
    PERFORM set_config('fleettickets.geom_resolved', 'off', true);
    unchanged := tickets - inserted - updated;
    IF p_history THEN
        PERFORM reporting.keep_daily_backlog((observed AT TIME ZONE 'Africa/Nairobi')::date);
    END IF;
END $$;

-- History rebuild (fleettickets history rebuild): archived snapshots are replayed, in stamp order,
-- against pg_temp.inc_replay (the state as of the snapshot replayed), never against tickets.inc.
CREATE OR REPLACE FUNCTION tickets.begin_replay() RETURNS void
LANGUAGE sql AS $$
    TRUNCATE tickets.inc_events RESTART IDENTITY;
    TRUNCATE reporting.inc_daily_backlog;
    CREATE TEMP TABLE IF NOT EXISTS inc_replay (ticket_id text PRIMARY KEY, raw jsonb NOT NULL) ON COMMIT DROP;
$$;

CREATE OR REPLACE FUNCTION tickets.replay_inc_stage(p_source_key text, p_observed_at timestamptz) RETURNS bigint
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    added bigint;
BEGIN
    ANALYZE pg_temp.inc_stage;
    WITH changes AS MATERIALIZED (
        SELECT s.ticket_id, s.raw, r.raw AS old_raw
          FROM pg_temp.inc_stage s
          LEFT JOIN pg_temp.inc_replay r ON r.ticket_id = s.ticket_id
         WHERE NOT EXISTS (SELECT 1 FROM pg_temp.inc_stage d WHERE d.ticket_id = s.ticket_id AND d.line > s.line)
           AND r.raw IS DISTINCT FROM s.raw
    ), history AS (
        INSERT INTO tickets.inc_events (ticket_id, observed_at, source_key, kind, old_status, new_status, is_open,
                                        changed)
        SELECT c.ticket_id, p_observed_at, p_source_key, e.*
          FROM changes c CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e
        RETURNING 1
    ), state AS (
        INSERT INTO pg_temp.inc_replay (ticket_id, raw) SELECT c.ticket_id, c.raw FROM changes c
        ON CONFLICT (ticket_id) DO UPDATE SET raw = EXCLUDED.raw
    )
    SELECT count(*) INTO added FROM history;
    TRUNCATE pg_temp.inc_stage;
    RETURN added;
END $$;
