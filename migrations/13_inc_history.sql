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

-- The merge now also writes the events of what it changed, and refreshes the day it observed.
DROP FUNCTION IF EXISTS tickets.merge_inc_stage(boolean);
DROP FUNCTION IF EXISTS tickets.inc_stage_changes();

-- The events, backlog and replay functions today: R__30_history.sql; the merge: R__40_ingest.sql.
