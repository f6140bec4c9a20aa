-- 19: every typed column's conversion is total, and no index on free text can fail an insert.
-- One odd value (a Unicode space after a number, thousands of digits) used to raise inside the
-- ingest's upsert and refuse the whole file. Now any text gives a value or NULL:
--   * Unicode spaces around a number are trimmed like ASCII ones (the numeric cast trims only
--     ASCII), so '12.5<em space>' is 12.5, not an error;
--   * only ASCII digits are digits;
--   * a text longer than 16,000 characters is not a number (the numeric type holds at most
--     16,383 digits after the point: more would overflow);
--   * NaN, Infinity and exponents were never numbers here and still are not.
-- Every value of up to 16,000 characters that the old functions converted converts to the same
-- number, and every value they turned to NULL is still NULL: rows already stored need no rewrite.

-- The spaces Unicode calls spaces (Zs), the line/paragraph separators, and the BOM, plus ASCII's.
CREATE OR REPLACE FUNCTION tickets.trim_spaces(v text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT btrim(v, E' \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff')
$$;

-- The common cases stay cheap: no value (most rows) is one test; ASCII digits with ASCII spaces at
-- most are one regex and the cast, as before. Only a value that fails both pays for the trim.
CREATE OR REPLACE FUNCTION tickets.num(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN v IS NULL OR length(v) > 16000 THEN NULL
        WHEN v ~ '^[ \t\n\r]*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[ \t\n\r]*$' THEN v::numeric
        WHEN tickets.trim_spaces(v) ~ '^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$' THEN tickets.trim_spaces(v)::numeric
    END
$$;

-- Decimal hours -> whole minutes; at most 7 digits of hours so the integer cannot overflow.
CREATE OR REPLACE FUNCTION tickets.hours_to_minutes(v text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN v IS NULL OR length(v) > 16000 THEN NULL
        WHEN v ~ '^[ \t\n\r]*[-+]?([0-9]{1,7}(\.[0-9]*)?|\.[0-9]+)[ \t\n\r]*$' THEN round(v::numeric * 60)::integer
        WHEN tickets.trim_spaces(v) ~ '^[-+]?([0-9]{1,7}(\.[0-9]*)?|\.[0-9]+)$'
            THEN round(tickets.trim_spaces(v)::numeric * 60)::integer
    END
$$;

-- A btree entry holds at most ~2,700 bytes: a 3,000-character cluster or status would fail the
-- insert of its whole file. These two columns are looked up by equality only; a hash index has no
-- size limit. (ticket_id, cluster, location_name and assigned_team, which key other indexes, are
-- limited to 256 characters by the cleaner: longer is a rejected row.)
DROP INDEX IF EXISTS tickets.inc_cluster_idx;
DROP INDEX IF EXISTS tickets.inc_normalized_status_idx;
CREATE INDEX IF NOT EXISTS inc_cluster_hash_idx ON tickets.inc USING hash (cluster);
CREATE INDEX IF NOT EXISTS inc_normalized_status_hash_idx ON tickets.inc USING hash (normalized_status);
