-- 18: freshness that means the feed. tickets.import_meta says what was last LOADED; a run that
-- finds the newest export byte-identical (most hours) or finds nothing new loads nothing, so
-- its age said nothing about the exporter. tickets.feed_check records every successful check
-- of the bucket, loaded or not, and the newest snapshot stamp ever seen, without touching ticket
-- data. `fleettickets status` and `ingest --max-age-hours` both measure the age of that stamp.

CREATE TABLE IF NOT EXISTS tickets.feed_check (
    dataset     text PRIMARY KEY,
    checked_at  timestamptz,          -- the last successful run against the bucket
    outcome     text,                 -- what it did: ingested, unchanged, no-snapshot, stale
    newest_key  text,                 -- the newest snapshot seen so far (bucket key or file)
    newest_at   timestamptz           -- its EAT stamp: the exporter's last sign of life
);

-- A database that ingested before this migration: its last load is its last check. A data fix
-- (docs/migrations.md): called here, and by the take-over once it has carried the earlier loader's rows.
CREATE OR REPLACE FUNCTION tickets.data_fix_18_feed_check() RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tickets.feed_check (dataset, checked_at, outcome, newest_key, newest_at)
    SELECT dataset, ingested_at, 'ingested', source_key, snapshot_at FROM tickets.import_meta
    ON CONFLICT (dataset) DO NOTHING
$$;
SELECT tickets.data_fix_18_feed_check();

-- tickets.record_check: R__40_ingest.sql; the status document with last_check and newest_snapshot:
-- R__80_status.sql.
