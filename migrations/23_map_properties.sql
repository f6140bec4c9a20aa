-- 23: the map's ticket properties gain ticket_id (first) and owner. MapLibre/Mapbox GL drop a
-- string feature id unless promoteId names a property, and popups read properties; owner is the
-- attribution field the feed fills (assigned_team is empty on about a third of the rows).
-- A composite type's attributes cannot be reordered, so the three ticket-payload types are
-- dropped and created again, dependants first. No CASCADE: it would silently drop the attribute
-- of a type built on the dropped one (map_ticket_feature.properties) instead of refusing, and
-- types are not redefined by the R__ files. fn_tickets_for_map names these types only in its
-- body, which PostgreSQL does not record as a dependency: R__70_map.sql, re-applied in the same
-- migrate run after this file, defines it again for the new shape.

DROP TYPE reporting.map_tickets_collection;
DROP TYPE reporting.map_ticket_feature;
DROP TYPE reporting.map_ticket_properties;

CREATE TYPE reporting.map_ticket_properties AS (
    ticket_id text, normalized_status text, cluster text, location_name text, assigned_team text, owner text,
    sla_state text, hours_open numeric, closed_at text, geo_source text);
CREATE TYPE reporting.map_ticket_feature AS (
    type text, id text, geometry reporting.map_point, properties reporting.map_ticket_properties);
CREATE TYPE reporting.map_tickets_collection AS (
    type text, features reporting.map_ticket_feature[], summary jsonb);
