-- 25: a snapshot stamped in the future (the exporter's clock, a typo) is never taken as the newest:
-- `ingest --from-bucket` refuses it for the run (fleettickets/snapshot.py FUTURE_TOLERANCE, 1 h)
-- and records it here for `fleettickets status`; tickets.record_future (R__40_ingest.sql) writes it.
ALTER TABLE tickets.feed_check
    ADD COLUMN IF NOT EXISTS future_key text,         -- the furthest-ahead snapshot the last check refused
    ADD COLUMN IF NOT EXISTS future_at  timestamptz;  -- its stamp

-- A future stamp seen before this rule is the newest "forever" (greatest() never goes back),
-- which silences the freshness alarm: it becomes the refused future snapshot that `status` names,
-- and the newest falls back to the last load's snapshot, if that one is real. A data fix
-- (docs/migrations.md): called here, and by the take-over once it has carried the earlier loader's rows.
CREATE OR REPLACE FUNCTION tickets.data_fix_25_future_snapshots() RETURNS void
LANGUAGE sql AS $$
    UPDATE tickets.feed_check c
       SET (newest_key, newest_at) = (SELECT m.source_key, m.snapshot_at FROM tickets.import_meta m
                                       WHERE m.dataset = c.dataset AND m.snapshot_at <= now() + interval '1 hour'),
           (future_key, future_at) = (c.newest_key, c.newest_at)
     WHERE c.newest_at > now() + interval '1 hour'
$$;
SELECT tickets.data_fix_25_future_snapshots();
