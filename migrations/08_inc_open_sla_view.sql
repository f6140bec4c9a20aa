-- 08: open (is_actionable) tickets with a derived SLA state against the contract's 48 h.
-- The clock is created_at_service, else first_seen_at (created_at_service is missing on ~30 %
-- of rows); sla_clock_source names which. A ticket with neither clock is 'unknown', not 'ok'.
-- The source's own sla_status is only meaningful once a ticket is closed.

-- The view and the SLA rule: R__10_sla.sql.
