-- 21: honest reports. A backlog day with no history is NULL (not 0) and the first day of history
-- says so; every day series is built by date arithmetic. generate_series(date, date, interval)
-- resolves to timestamptz in the session's time zone, so where a DST change falls at midnight
-- (America/Santiago, Asia/Beirut) or a day was skipped (Pacific/Kiritimati, 1994-12-31) a day
-- went missing or came twice.

-- fn_backlog gains a column (history_start): a function's result type cannot be replaced in place.
DROP FUNCTION IF EXISTS reporting.fn_backlog(date, date);

-- reporting.days, fn_daily_flow, fn_backlog: R__50_reports.sql; refresh_daily_backlog: R__30_history.sql.
