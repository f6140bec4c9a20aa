-- LEDGER_DDL of fleettickets/migrate.py at 8ee2df164ea20e84211653f4292ee1042385a794, written by `python -m tests.released`
CREATE SCHEMA IF NOT EXISTS tickets;
CREATE TABLE IF NOT EXISTS tickets.schema_migrations (
    version      integer PRIMARY KEY,
    name         text NOT NULL,
    script       text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    applied_by   text NOT NULL DEFAULT current_user,
    execution_ms integer NOT NULL
);
