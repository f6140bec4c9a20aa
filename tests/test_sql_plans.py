"""SQL the planner can see through: the plans PostgreSQL makes for the shipped functions (EXPLAIN).

No timings here (bench/ measures those): each test asserts the shape of a plan, which says whether
a function was inlined and whether an index is used by the query it is there for.
"""

from __future__ import annotations

import psycopg
import pytest


def plan(conn: psycopg.Connection, query: str, params: tuple = ()) -> str:
    return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {query}", params))


def nested_plans(conn: psycopg.Connection, statement: str, params: tuple = ()) -> str:
    """The plans of the statements a function runs (auto_explain, reported to this session)."""
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for setting, value in (
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("auto_explain.log_level", "notice"),
    ):
        conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
    conn.execute(statement, params)
    conn.execute("SELECT set_config('auto_explain.log_min_duration', '-1', false)")
    return "\n".join(notices)


@pytest.fixture
def many(conn: psycopg.Connection) -> psycopg.Connection:
    """Enough tickets in enough clusters that an index beats reading the table."""
    conn.execute(
        """
        INSERT INTO tickets.inc (ticket_id, raw)
        SELECT 'T' || n, jsonb_build_object('cluster', 'C' || (n % 200), 'location_name', 'Place ' || (n % 997),
                                            'is_actionable', (n % 20 = 0)::text,
                                            'first_seen_at', to_char(timestamp '2026-01-01' + n * interval '1 minute',
                                                                     'YYYY-MM-DD HH24:MI'))
          FROM generate_series(1, 20000) n
        """
    )
    conn.execute(
        """
        INSERT INTO tickets.inc_events (ticket_id, observed_at, kind, is_open, changed)
        SELECT 'T' || n, timestamptz '2026-01-01' + n * interval '1 minute', 'created', true, '{}'
          FROM generate_series(1, 20000) n
        """
    )
    conn.execute("ANALYZE tickets.inc")
    conn.execute("ANALYZE tickets.inc_events")
    return conn


def test_inc_event_is_inlined_into_its_caller(conn):
    shown = plan(
        conn,
        'SELECT e.* FROM (VALUES (NULL::jsonb, \'{"is_actionable": "true"}\'::jsonb)) c(old_raw, raw)'
        " CROSS JOIN LATERAL tickets.inc_event(c.old_raw, c.raw) e",
    )
    assert "inc_event" not in shown and "Function Scan" not in shown
    assert "'created'::text" in shown  # its CASE, in the caller's plan


def test_the_sla_rule_is_inlined_into_the_view(conn):
    shown = plan(conn, "SELECT sla_state, sla_clock_start, hours_open FROM tickets.inc_open_sla")
    assert "sla_state_at" not in shown and "sla_clock" not in shown and "sla_limit" not in shown
    assert "'48:00:00'::interval" in shown and "'36:00:00'::interval" in shown
    assert "COALESCE(inc.created_at_service, inc.first_seen_at)" in shown


def test_the_map_layer_inlines_the_sla_rule(conn):
    shown = plan(conn, "SELECT sla_state, hours_open FROM reporting.inc_map")
    assert "reporting.sla_state(" not in shown and "tickets.sla_" not in shown


def test_reresolve_geom_reads_the_clusters_it_is_given_by_index(many):
    shown = nested_plans(many, "SELECT tickets.reresolve_geom(%s)", (["C1", "C2"],))
    assert "inc_cluster_hash_idx" in shown, shown


def test_the_default_map_call_reads_the_open_tickets_by_their_partial_index(many):
    shown = plan(many, "SELECT * FROM reporting.map_tickets(true, NULL, NULL)")
    assert "inc_map_open_idx" in shown, shown


def test_the_backlog_reads_one_days_events_by_index(many):
    shown = nested_plans(many, "SELECT reporting.refresh_daily_backlog('2026-01-05', '2026-01-05', true)")
    assert "inc_events_observed_idx" in shown, shown


def test_a_tickets_history_reads_by_index(many):
    """The analyst's query the README shows: one ticket's events, in order."""
    shown = plan(many, "SELECT * FROM tickets.inc_events WHERE ticket_id = 'T42' ORDER BY observed_at")
    assert "inc_events_ticket_idx" in shown, shown


def test_every_index_of_the_written_tables_serves_a_query_above(conn):
    """Every index on the tables each ingest writes is one of those above (or a key)."""
    indexes = {
        r[0]
        for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'tickets' AND tablename IN ('inc', 'inc_events')"
        )
    }
    assert indexes == {
        "inc_pkey",
        "inc_events_pkey",
        "inc_geog_gist",  # fn_nearest_open_tickets (tests/test_reports.py)
        "inc_cluster_hash_idx",
        "inc_map_open_idx",
        "inc_events_observed_idx",
        "inc_events_ticket_idx",
    }
