-- 12: what an operator asks every morning, as one jsonb document (fleettickets status reads it):
-- the last successful ingest, tickets open/closed, positions by precision, the gazetteers, and
-- open tickets by SLA state.

-- The status document today: R__80_status.sql.
