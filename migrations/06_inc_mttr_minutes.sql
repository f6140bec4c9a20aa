-- 06: mttr becomes integer minutes (the source sends decimal hours: 12.5 -> 750, rounded half
-- away from zero). The constant is_alarm / is_auto_created / is_auto_closed columns go; their
-- values stay in raw. is_actionable stays: it is the open/closed flag.

ALTER TABLE tickets.inc
    DROP COLUMN mttr,
    DROP COLUMN is_alarm,
    DROP COLUMN is_auto_created,
    DROP COLUMN is_auto_closed;
ALTER TABLE tickets.inc
    ADD COLUMN mttr integer GENERATED ALWAYS AS (
        CASE WHEN abs(tickets.num(raw ->> 'mttr')) < 1000000
             THEN round(tickets.num(raw ->> 'mttr') * 60)::integer END) STORED;
