-- 15: a snapshot older than the newest backlog day (a --csv ingest of an old file; the bucket
-- path never loads one) changes the history of its day and of every day after it: rebuild those
-- from the events rather than refreshing the old day from today's state.

-- reporting.keep_daily_backlog today: R__30_history.sql.
