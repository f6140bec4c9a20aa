-- 08: open (is_actionable) tickets with a derived SLA state against the contract's 48 h.
-- The clock is created_at_service, else first_seen_at (created_at_service is missing on ~30 %
-- of rows); sla_clock_source names which. A ticket with neither clock is 'unknown', not 'ok'.
-- The source's own sla_status is only meaningful once a ticket is closed.

CREATE OR REPLACE VIEW tickets.inc_open_sla AS
SELECT ticket_id,
       normalized_status,
       raw_status,
       cluster,
       region,
       location_name,
       assigned_team,
       owner,
       coalesce(created_at_service, first_seen_at) AS sla_clock_start,
       CASE WHEN created_at_service IS NOT NULL THEN 'created_at_service'
            WHEN first_seen_at IS NOT NULL THEN 'first_seen_at' END AS sla_clock_source,
       round((extract(epoch FROM now() - coalesce(created_at_service, first_seen_at)) / 3600)::numeric, 2)
           AS hours_open,
       CASE WHEN coalesce(created_at_service, first_seen_at) IS NULL THEN 'unknown'
            WHEN now() - coalesce(created_at_service, first_seen_at) >= interval '48 hours' THEN 'breached'
            WHEN now() - coalesce(created_at_service, first_seen_at) >= interval '36 hours' THEN 'at_risk'
            ELSE 'ok' END AS sla_state,
       sla_status AS source_sla_status,
       geo_source,
       latitude,
       longitude,
       geom,
       geog
  FROM tickets.inc
 WHERE is_actionable;
