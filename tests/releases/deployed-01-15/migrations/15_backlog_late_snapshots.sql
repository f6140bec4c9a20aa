-- 15: a snapshot older than the newest backlog day (a --csv ingest of an old file; the bucket
-- path never loads one) changes the history of its day and of every day after it: rebuild those
-- from the events rather than refreshing the old day from today's state.

CREATE OR REPLACE FUNCTION reporting.keep_daily_backlog(p_day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_day constant date := (SELECT max(day) FROM reporting.inc_daily_backlog);
BEGIN
    IF last_day > p_day THEN
        PERFORM reporting.refresh_daily_backlog(p_day, last_day);
        RETURN;
    END IF;
    IF last_day < p_day - 1 THEN  -- days on which the pipeline saw no change at all
        PERFORM reporting.refresh_daily_backlog(last_day + 1, p_day - 1);
    END IF;
    PERFORM reporting.refresh_daily_backlog(p_day, p_day, true);
END $$;
