-- 14: analytics for dashboards (each over EAT days p_from..p_to) and nearest-ticket dispatch.
-- `fleettickets report NAME` and `fleettickets nearest` print these.

-- The reports today: R__50_reports.sql; dispatch: R__60_dispatch.sql.
