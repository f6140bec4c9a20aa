-- The SLA rule, written once: the clock (created_at_service, else first_seen_at: created_at_service
-- is missing on ~30 % of rows) and the thresholds (breached at 48 h, at_risk at 36 h). The view,
-- the map, the backlog and the reports all use these. Plain SQL functions, so PostgreSQL inlines
-- them into each query (tests/test_sql_plans.py checks).

-- When a ticket's SLA clock started; NULL when it has neither time.
CREATE OR REPLACE FUNCTION tickets.sla_clock(created_at_service timestamptz, first_seen_at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(created_at_service, first_seen_at) $$;

-- Hours from `since` to now, unrounded (each reader rounds to its own precision): the open ticket's
-- age here and on the map, the pipeline's ages in reporting.fn_pipeline_status.
CREATE OR REPLACE FUNCTION tickets.hours_since(since timestamptz) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT (extract(epoch FROM now() - since) / 3600)::numeric $$;

-- The contract's limit: a ticket open this long from its clock is breached.
CREATE OR REPLACE FUNCTION tickets.sla_limit() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT interval '48 hours' $$;

-- The state of an open ticket whose clock started at `clock`, as of `as_of`: 'unknown' without a
-- clock (not 'ok'), 'breached' from the limit on, 'at_risk' from 36 h.
CREATE OR REPLACE FUNCTION tickets.sla_state_at(clock timestamptz, as_of timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN clock IS NULL THEN 'unknown'
                WHEN as_of - clock >= tickets.sla_limit() THEN 'breached'
                WHEN as_of - clock >= interval '36 hours' THEN 'at_risk'
                ELSE 'ok' END
$$;

-- The SLA state of a ticket now: tickets.sla_state_at for open tickets, 'closed' for the others.
CREATE OR REPLACE FUNCTION reporting.sla_state(is_open boolean, clock timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN NOT coalesce(is_open, false) THEN 'closed' ELSE tickets.sla_state_at(clock, now()) END
$$;

-- Open (is_actionable) tickets with their SLA state now; sla_clock_source names which time the
-- clock is. The source's own sla_status is only meaningful once a ticket is closed.
CREATE OR REPLACE VIEW tickets.inc_open_sla AS
SELECT ticket_id,
       normalized_status,
       raw_status,
       cluster,
       region,
       location_name,
       assigned_team,
       owner,
       tickets.sla_clock(created_at_service, first_seen_at) AS sla_clock_start,
       CASE WHEN created_at_service IS NOT NULL THEN 'created_at_service'
            WHEN first_seen_at IS NOT NULL THEN 'first_seen_at' END AS sla_clock_source,
       round(tickets.hours_since(tickets.sla_clock(created_at_service, first_seen_at)), 2) AS hours_open,
       tickets.sla_state_at(tickets.sla_clock(created_at_service, first_seen_at), now()) AS sla_state,
       sla_status AS source_sla_status,
       geo_source,
       latitude,
       longitude,
       geom,
       geog
  FROM tickets.inc
 WHERE is_actionable;
