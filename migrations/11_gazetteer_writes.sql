-- 11: writing to the gazetteers, in one place. A geocoding run stores every outcome through
-- save_cluster / save_location; a row an operator has verified is never overwritten. Hand
-- fixes (set_point) mark the row verified and re-resolve its tickets at once. The review view
-- lists both gazetteers side by side.

-- The gazetteer writes and the review view today: R__20_geocode.sql.
