"""The README's queries run as pasted into psql (no -v needed), against a migrated database, and answer
what they say on a loaded one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg

from tests.helpers import add_cluster, insert_ticket

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# Where the README's Querying section sends the reader for the rest: its SQL runs as pasted too.
QUERYING_DOCS = (REPO / "docs" / "querying.md", REPO / "docs" / "replacing-the-earlier-loader.md")


def querying_sql() -> str:
    """Every sql block of the README's Querying section (up to the next top-level heading) and of
    the docs it links for more."""
    section = README.read_text().split("## Querying\n", 1)[1].split("\n## ", 1)[0]
    for doc in QUERYING_DOCS:
        assert f"docs/{doc.name}" in README.read_text(), doc.name  # still linked from the README
    texts = [section, *(doc.read_text() for doc in QUERYING_DOCS)]
    return "\n".join(block for text in texts for block in re.findall(r"```sql\n(.*?)```", text, re.S))


def test_the_readme_queries_run_as_pasted(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        add_cluster(c, "C1", 36.78, -1.31)
        insert_ticket(c, "O1", is_actionable="true", cluster="C1", created_at_service="2026-06-15 08:00")
    psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    params = psycopg.conninfo.conninfo_to_dict(db_url)
    env = dict(os.environ, PGPASSWORD=str(params.pop("password", "")))  # never in the arguments
    result = subprocess.run(
        [psql, "-X", "-v", "ON_ERROR_STOP=1", "-d", psycopg.conninfo.make_conninfo("", **params)],
        input=querying_sql(),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    assert "O1" in result.stdout  # the nearest-ticket query found it
    assert "fn_tickets_for_map_by_position" in querying_sql()  # the map's blocks are in too


def test_the_first_queries_answer_what_they_say_on_a_loaded_database(loaded):
    """The Querying section's first block, statement by statement, after an ingest and geocoding."""
    block = re.search(r"## Querying\s+```sql\n(.*?)```", README.read_text(), re.S).group(1)
    sql = re.sub(r"--[^\n]*", "", block)
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    assert len(statements) == 10
    with psycopg.connect(loaded) as c:
        results = [c.execute(s).fetchall() for s in statements]
    assert results[0][0][0]["summary"]["tickets"] == 3
    assert results[4] == []  # closures per day: the one closed ticket (T4) has no closed_at
    nearest = results[5]
    assert [r[0] for r in nearest] == ["T1", "T2", "T3"]  # Kileleshwa ~0.4 km, Lavington ~1.2 km, Kisumu
    assert 300 < nearest[0][3] < 500
    loads = results[7]  # the load history: the one local file loaded
    assert [(dataset, kind, outcome) for dataset, kind, _, outcome, _ in loads] == [("inc", "csv", "applied")]
