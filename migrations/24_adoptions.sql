-- 24: taking over the earlier loader's database (`fleettickets migrate --adopt`, fleettickets/adopt.py).
-- Adoption builds this schema fresh beside the loader's, carries every row over and keeps the
-- loader's objects, untouched, in a schema of their own (kept_in). This table is its ledger: when
-- and by whom, the loader's own migration ledger as it was, the rows before and after per table,
-- and what the plan said.

CREATE TABLE IF NOT EXISTS tickets.adoptions (
    kept_in     text PRIMARY KEY,               -- tickets_adopted_YYYYMMDD: the loader's objects
    adopted_at  timestamptz NOT NULL DEFAULT now(),
    adopted_by  text NOT NULL DEFAULT current_user,
    old_ledger  jsonb NOT NULL,                 -- its tickets.schema_migrations rows ([] when it had none)
    row_counts  jsonb NOT NULL,                 -- {"tickets.inc": {"before": n, "after": n}, ...}
    notes       text[] NOT NULL DEFAULT '{}',   -- the plan's lines
    dropped_at  timestamptz                     -- when `migrate --drop-adopted` removed kept_in
);
