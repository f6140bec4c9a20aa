-- 20: a lean map payload. fn_tickets_for_map() and fn_tickets_for_map(p_open_only := false) return
-- the same features as before, with the properties the map shows built from typed columns (not
-- to_jsonb of the whole row), timestamps in UTC with Z whatever the session's TimeZone, and numbers
-- as JSON numbers. New optional parameters, defaults keeping old calls as they were: a bounding box
-- and a cap on closed tickets by age. fn_tickets_for_map_by_position is the zoomed-out view: one
-- feature per distinct point (tickets stack on cluster and place points), with counts by SLA state.

-- The open tickets, so the default map call reads them, not the whole table. Keys only: a free-text
-- column in an index tuple (even INCLUDEd) would let one over-long value fail an insert.
CREATE INDEX IF NOT EXISTS inc_map_open_idx ON tickets.inc (ticket_id) WHERE is_actionable;

-- The payloads are built as composite rows and turned into jsonb by one to_jsonb at the end: that
-- writes each value once, where nested jsonb_build_object/jsonb_agg re-serialise every level
-- (measured on 24k open tickets: about half the time of building json text and casting it).
CREATE TYPE reporting.map_point AS (type text, coordinates double precision[]);
CREATE TYPE reporting.map_ticket_properties AS (
    normalized_status text, cluster text, location_name text, assigned_team text,
    sla_state text, hours_open numeric, closed_at text, geo_source text);
CREATE TYPE reporting.map_ticket_feature AS (
    type text, id text, geometry reporting.map_point, properties reporting.map_ticket_properties);
CREATE TYPE reporting.map_tickets_collection AS (
    type text, features reporting.map_ticket_feature[], summary jsonb);
CREATE TYPE reporting.map_position_properties AS (
    tickets bigint, breached bigint, at_risk bigint, ok bigint, unknown bigint, closed bigint,
    cluster text, geo_source text, ticket_ids text[]);
CREATE TYPE reporting.map_position_feature AS (
    type text, id text, geometry reporting.map_point, properties reporting.map_position_properties);
CREATE TYPE reporting.map_positions_collection AS (
    type text, features reporting.map_position_feature[], summary jsonb);

DROP FUNCTION IF EXISTS reporting.fn_tickets_for_map(boolean);

-- utc_text, the map layer (reporting.inc_map), the payload functions: R__70_map.sql; the SLA state:
-- R__10_sla.sql.
