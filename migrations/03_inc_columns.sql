-- 03: unpack raw into typed STORED generated columns. raw stays the source of truth; these
-- follow it on every insert/update with no loader change. The helpers are IMMUTABLE (generated
-- columns demand it), tolerant (junk is NULL, never an error) and plain SQL so PostgreSQL inlines
-- them: a non-inlined SQL function costs ~20 us a call, a regex ~2.4 us, and these run for every
-- column of every upserted row.

-- Feed booleans: true/false in any case, also t/f, 1/0, yes/no; anything else is NULL.
CREATE OR REPLACE FUNCTION tickets.to_bool(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(btrim(v))
        WHEN 'true' THEN true WHEN 't' THEN true WHEN '1' THEN true WHEN 'yes' THEN true
        WHEN 'false' THEN false WHEN 'f' THEN false WHEN '0' THEN false WHEN 'no' THEN false
    END
$$;

-- EAT wall-clock text -> timestamptz. Accepts 'YYYY-MM-DD HH:MM[:SS[.ffffff]]' (space or T),
-- optionally followed by Z, +HH, +HHMM or +HH:MM, which then wins over EAT (UTC+3, no DST).
-- Validation is one translate() of the digits to a shape, then range checks on the fields
-- (with real month lengths and leap years), so nothing can reach make_timestamp and raise.
CREATE OR REPLACE FUNCTION tickets.eat_ts(v text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN translate(v, '0123456789T', '9999999999 ') IN (
            '9999-99-99 99:99', '9999-99-99 99:99:99', '9999-99-99 99:99:99.9', '9999-99-99 99:99:99.99',
            '9999-99-99 99:99:99.999', '9999-99-99 99:99:99.9999', '9999-99-99 99:99:99.99999', '9999-99-99 99:99:99.999999',
            '9999-99-99 99:99Z', '9999-99-99 99:99:99Z', '9999-99-99 99:99:99.9Z', '9999-99-99 99:99:99.99Z',
            '9999-99-99 99:99:99.999Z', '9999-99-99 99:99:99.9999Z', '9999-99-99 99:99:99.99999Z', '9999-99-99 99:99:99.999999Z',
            '9999-99-99 99:99+99', '9999-99-99 99:99:99+99', '9999-99-99 99:99:99.9+99', '9999-99-99 99:99:99.99+99',
            '9999-99-99 99:99:99.999+99', '9999-99-99 99:99:99.9999+99', '9999-99-99 99:99:99.99999+99', '9999-99-99 99:99:99.999999+99',
            '9999-99-99 99:99-99', '9999-99-99 99:99:99-99', '9999-99-99 99:99:99.9-99', '9999-99-99 99:99:99.99-99',
            '9999-99-99 99:99:99.999-99', '9999-99-99 99:99:99.9999-99', '9999-99-99 99:99:99.99999-99', '9999-99-99 99:99:99.999999-99',
            '9999-99-99 99:99+9999', '9999-99-99 99:99:99+9999', '9999-99-99 99:99:99.9+9999', '9999-99-99 99:99:99.99+9999',
            '9999-99-99 99:99:99.999+9999', '9999-99-99 99:99:99.9999+9999', '9999-99-99 99:99:99.99999+9999', '9999-99-99 99:99:99.999999+9999',
            '9999-99-99 99:99-9999', '9999-99-99 99:99:99-9999', '9999-99-99 99:99:99.9-9999', '9999-99-99 99:99:99.99-9999',
            '9999-99-99 99:99:99.999-9999', '9999-99-99 99:99:99.9999-9999', '9999-99-99 99:99:99.99999-9999', '9999-99-99 99:99:99.999999-9999',
            '9999-99-99 99:99+99:99', '9999-99-99 99:99:99+99:99', '9999-99-99 99:99:99.9+99:99', '9999-99-99 99:99:99.99+99:99',
            '9999-99-99 99:99:99.999+99:99', '9999-99-99 99:99:99.9999+99:99', '9999-99-99 99:99:99.99999+99:99', '9999-99-99 99:99:99.999999+99:99',
            '9999-99-99 99:99-99:99', '9999-99-99 99:99:99-99:99', '9999-99-99 99:99:99.9-99:99', '9999-99-99 99:99:99.99-99:99',
            '9999-99-99 99:99:99.999-99:99', '9999-99-99 99:99:99.9999-99:99', '9999-99-99 99:99:99.99999-99:99', '9999-99-99 99:99:99.999999-99:99')
         AND substr(v, 6, 2) COLLATE "C" BETWEEN '01' AND '12'
         AND substr(v, 9, 2) COLLATE "C" BETWEEN '01' AND CASE substr(v, 6, 2)
                WHEN '02' THEN CASE WHEN substr(v, 1, 4)::int % 4 = 0
                                     AND (substr(v, 1, 4)::int % 100 <> 0 OR substr(v, 1, 4)::int % 400 = 0)
                                    THEN '29' ELSE '28' END
                WHEN '04' THEN '30' WHEN '06' THEN '30' WHEN '09' THEN '30' WHEN '11' THEN '30'
                ELSE '31' END
         AND substr(v, 12, 2) COLLATE "C" <= '23'
         AND substr(v, 15, 2) COLLATE "C" <= '59'
         AND substr(v, 18, 2) COLLATE "C" <= '59'
        THEN timezone(
            -- what follows the seconds is the offset: '', 'Z', '+HH', '+HHMM' or '+HH:MM'
            CASE ltrim(substr(v, 17), ':.0123456789')
                WHEN '' THEN interval '03:00'
                WHEN 'Z' THEN interval '0'
                ELSE make_interval(mins =>
                        CASE substr(ltrim(substr(v, 17), ':.0123456789'), 1, 1) WHEN '-' THEN -1 ELSE 1 END
                        * (substr(ltrim(substr(v, 17), ':.0123456789'), 2, 2)::int * 60
                           + coalesce(nullif(substr(replace(ltrim(substr(v, 17), ':.0123456789'), ':', ''), 4, 2),
                                             '')::int, 0)))
            END,
            make_timestamp(substr(v, 1, 4)::int, substr(v, 6, 2)::int, substr(v, 9, 2)::int,
                           substr(v, 12, 2)::int, substr(v, 15, 2)::int,
                           CASE WHEN substr(v, 17, 1) = ':'
                                THEN substr(v, 18, length(v) - 17
                                               - length(ltrim(substr(v, 17), ':.0123456789')))::float8
                                ELSE 0 END))
    END
$$;

ALTER TABLE tickets.inc
    ADD COLUMN normalized_status  text GENERATED ALWAYS AS (raw ->> 'normalized_status') STORED,
    ADD COLUMN raw_status         text GENERATED ALWAYS AS (raw ->> 'raw_status') STORED,
    ADD COLUMN bucket             text GENERATED ALWAYS AS (raw ->> 'bucket') STORED,
    ADD COLUMN is_actionable      boolean GENERATED ALWAYS AS (tickets.to_bool(raw ->> 'is_actionable')) STORED,
    ADD COLUMN is_alarm           boolean GENERATED ALWAYS AS (tickets.to_bool(raw ->> 'is_alarm')) STORED,
    ADD COLUMN is_auto_created    boolean GENERATED ALWAYS AS (tickets.to_bool(raw ->> 'is_auto_created')) STORED,
    ADD COLUMN is_auto_closed     boolean GENERATED ALWAYS AS (tickets.to_bool(raw ->> 'is_auto_closed')) STORED,
    ADD COLUMN service_type       text GENERATED ALWAYS AS (raw ->> 'service_type') STORED,
    ADD COLUMN cluster            text GENERATED ALWAYS AS (raw ->> 'cluster') STORED,
    ADD COLUMN region             text GENERATED ALWAYS AS (raw ->> 'region') STORED,
    ADD COLUMN location_name      text GENERATED ALWAYS AS (raw ->> 'location_name') STORED,
    ADD COLUMN assigned_team      text GENERATED ALWAYS AS (raw ->> 'assigned_team') STORED,
    ADD COLUMN owner              text GENERATED ALWAYS AS (raw ->> 'owner') STORED,
    ADD COLUMN sla_status         text GENERATED ALWAYS AS (raw ->> 'sla_status') STORED,
    ADD COLUMN mttr               numeric GENERATED ALWAYS AS (tickets.num(raw ->> 'mttr')) STORED,
    ADD COLUMN created_at_service timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'created_at_service')) STORED,
    ADD COLUMN scheduled_at       timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'scheduled_at')) STORED,
    ADD COLUMN closed_at          timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'closed_at')) STORED,
    ADD COLUMN first_seen_at      timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'first_seen_at')) STORED,
    ADD COLUMN last_seen_at       timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'last_seen_at')) STORED,
    ADD COLUMN source_created_at  timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'created_at')) STORED,
    ADD COLUMN source_updated_at  timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'updated_at')) STORED,
    ADD COLUMN latitude           double precision GENERATED ALWAYS AS (ST_Y(tickets.feed_point(raw))) STORED,
    ADD COLUMN longitude          double precision GENERATED ALWAYS AS (ST_X(tickets.feed_point(raw))) STORED;

CREATE INDEX IF NOT EXISTS inc_cluster_idx ON tickets.inc (cluster);
CREATE INDEX IF NOT EXISTS inc_normalized_status_idx ON tickets.inc (normalized_status);
