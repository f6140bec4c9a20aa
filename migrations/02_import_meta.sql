-- 02: snapshot freshness. One row per dataset ('inc'): which file was ingested last, its ETag
-- (metadata->>'source_etag', the skip-if-unchanged key), its stamp and the run's counts.
-- fn_tickets_for_map keeps its signature and exposes the row as summary.freshness.

CREATE TABLE IF NOT EXISTS tickets.import_meta (
    dataset      text PRIMARY KEY,
    source_key   text,
    snapshot_at  timestamptz,             -- the file name's EAT stamp
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb
);

