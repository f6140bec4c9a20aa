-- 06: mttr becomes integer minutes (the source sends decimal hours: 12.5 -> 750, rounded half
-- away from zero). The constant is_alarm / is_auto_created / is_auto_closed columns go; their
-- values stay in raw. is_actionable stays: it is the open/closed flag.

ALTER TABLE tickets.inc
    DROP COLUMN mttr,
    DROP COLUMN is_alarm,
    DROP COLUMN is_auto_created,
    DROP COLUMN is_auto_closed;
-- Decimal hours -> whole minutes; at most 7 digits of hours so the integer cannot overflow.
CREATE OR REPLACE FUNCTION tickets.hours_to_minutes(v text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '^\s*[-+]?(\d{1,7}(\.\d*)?|\.\d+)\s*$' THEN round(v::numeric * 60)::integer END
$$;

ALTER TABLE tickets.inc
    ADD COLUMN mttr integer GENERATED ALWAYS AS (tickets.hours_to_minutes(raw ->> 'mttr')) STORED;
