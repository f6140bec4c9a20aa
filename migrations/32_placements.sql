-- 32: hand placements are an audit trail (issue 25). Every change an operator makes to a gazetteer
-- entry by hand (`gazetteer set`, `gazetteer verify` when it changes the entry, the review page, and
-- the revert of any of them) is a row here: who (the database role, and the name the reviewer gave,
-- if any), when, the entry before and after. Undo is "revert placement N", taken from this trail
-- and refused if the entry changed since; it survives tabs, restarts and processes, and a verified
-- point keeps its provenance.

CREATE TABLE IF NOT EXISTS tickets.placements (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('cluster', 'location')),
    key       text NOT NULL,                 -- geo_clusters.cluster or geo_locations.query
    action    text NOT NULL CHECK (action IN ('set', 'verify', 'revert')),
    reverts   bigint REFERENCES tickets.placements (id),
    db_role   text NOT NULL DEFAULT current_user,
    reviewer  text,                          -- the name given (--reviewer); the role is the login's
    placed_at timestamptz NOT NULL DEFAULT now(),
    before    jsonb NOT NULL,                -- tickets.gazetteer_row() before and after the change
    after     jsonb NOT NULL,
    CHECK ((action = 'revert') = (reverts IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS placements_entry_idx ON tickets.placements (kind, key, id);

-- The writes now record the placement and say which it was: their result types changed.
DROP FUNCTION IF EXISTS tickets.set_entry_point(text, text, double precision, double precision);
DROP FUNCTION IF EXISTS tickets.verify_entry(text, text);
-- The review page's unconditional undo is gone (it could silently undo a later change).
DROP FUNCTION IF EXISTS tickets.restore_location_entry(jsonb);
DROP FUNCTION IF EXISTS tickets.location_entry(text);

-- tickets.gazetteer_row, set_entry_point, verify_entry, revert_placement, placement_history and the
-- gazetteer view's provenance: R__20_geocode.sql.
