-- 40: one engine for INC and CRQ, change files applied exactly once, no ticket rolled back
-- (CONTRACT 1b; the datasets are declared in fleettickets/datasets.py, a run is fleettickets/ingest.py).

-- The load history, like Snowpipe's: one row per feed file a run decided on (applied, or skipped
-- as a byte-identical snapshot), written in the same transaction as the file's rows. It decides
-- what is pending, not the archive: a file is its key and ETag, and one recorded here is never
-- applied again (an archive that failed is retried instead); the same key with a new ETag (a
-- rewrite) is another file.
CREATE TABLE IF NOT EXISTS tickets.loads (
    load_id     bigserial PRIMARY KEY,
    dataset     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('snapshot', 'change', 'csv')),
    source_key  text NOT NULL,       -- the bucket key, or the local file (--csv)
    etag        text,                -- NULL for a local file
    size        bigint,
    stamp       timestamptz,         -- the EAT stamp in its name
    outcome     text NOT NULL CHECK (outcome IN ('applied', 'unchanged')),
    counts      jsonb NOT NULL DEFAULT '{}'::jsonb,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz          -- when it reached processed/ (NULL: not yet, or a local file)
);
CREATE UNIQUE INDEX IF NOT EXISTS loads_file_key ON tickets.loads (dataset, source_key, etag)
    WHERE etag IS NOT NULL;
CREATE INDEX IF NOT EXISTS loads_recent_idx ON tickets.loads (dataset, load_id DESC);

-- The version rule (CONTRACT 1b): a stored row's version is its updated_at, else the stamp of the
-- file it came in; row_stamp is that stamp (NULL for rows written before this migration: their
-- ingested_at stands in for it).
ALTER TABLE tickets.inc ADD COLUMN IF NOT EXISTS row_stamp timestamptz;
ALTER TABLE tickets.crq ADD COLUMN IF NOT EXISTS row_stamp timestamptz;

-- CRQ rows keep raw as the export sent them; the engine and the geocoding read these from it.
ALTER TABLE tickets.crq
    ADD COLUMN IF NOT EXISTS cluster           text GENERATED ALWAYS AS (raw ->> 'cluster') STORED,
    ADD COLUMN IF NOT EXISTS location_name     text GENERATED ALWAYS AS (raw ->> 'location_name') STORED,
    ADD COLUMN IF NOT EXISTS is_actionable     boolean GENERATED ALWAYS AS (tickets.to_bool(raw ->> 'is_actionable'))
                                                   STORED,
    ADD COLUMN IF NOT EXISTS source_updated_at timestamptz GENERATED ALWAYS AS (tickets.eat_ts(raw ->> 'updated_at'))
                                                   STORED;
CREATE INDEX IF NOT EXISTS crq_cluster_idx ON tickets.crq (cluster);

-- A data fix (docs/migrations.md): each dataset's last load before the load history existed
-- becomes its first entry, so the next run finds that snapshot applied (its ETag: `unchanged`).
-- The earlier loader kept the ETag as boto3 gives it, in the quotes S3 sends; this package keeps
-- and compares it bare (bucket.py): the envelope's is stripped first, then copied. Idempotent.
CREATE OR REPLACE FUNCTION tickets.data_fix_40_loads_from_import_meta() RETURNS void
LANGUAGE sql AS $$
    UPDATE tickets.import_meta
       SET metadata = jsonb_set(metadata, '{source_etag}', to_jsonb(btrim(metadata ->> 'source_etag', '"')))
     WHERE metadata ->> 'source_etag' LIKE '"%"';
    INSERT INTO tickets.loads (dataset, kind, source_key, etag, stamp, outcome, counts, loaded_at)
    SELECT m.dataset, CASE WHEN m.metadata ->> 'source_etag' IS NULL THEN 'csv' ELSE 'snapshot' END, m.source_key,
           m.metadata ->> 'source_etag', m.snapshot_at, 'applied', m.metadata, m.ingested_at
      FROM tickets.import_meta m
     WHERE m.source_key IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM tickets.loads l WHERE l.dataset = m.dataset)
    ON CONFLICT DO NOTHING;
$$;
SELECT tickets.data_fix_40_loads_from_import_meta();

-- The INC-only merge and its stage table became tickets.merge_stage and pg_temp.stage for every
-- dataset (R__40_ingest.sql), the replay's tickets.replay_stage (R__30_history.sql).
DROP FUNCTION IF EXISTS tickets.merge_inc_stage(boolean, text, timestamptz, boolean);
DROP FUNCTION IF EXISTS tickets.inc_stage_changes();
DROP FUNCTION IF EXISTS tickets.begin_inc_stage();
DROP FUNCTION IF EXISTS tickets.replay_inc_stage(text, timestamptz);
