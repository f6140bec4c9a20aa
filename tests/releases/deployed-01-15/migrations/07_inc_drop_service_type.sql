-- 07: service_type is always 'inc'; the constant column goes (the value stays in raw).

ALTER TABLE tickets.inc DROP COLUMN service_type;
