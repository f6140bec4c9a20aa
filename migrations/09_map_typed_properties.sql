-- 09: fn_tickets_for_map over the typed columns (same signature, dashboard_api unchanged).
-- Feature properties are the ticket's typed fields (timestamps as ISO UTC, mttr in minutes,
-- latitude/longitude, geo_source); coordinates are [lng, lat] as GeoJSON requires.
-- summary: counts for the selection, positions by precision, and freshness.

-- The map payload today: R__70_map.sql.
