"""No secret in output: database URLs shown without their password, every secret seen in the
settings masked wherever it appears, even in a --verbose traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleettickets.cli import app
from fleettickets.config import load_settings, redact, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://fleet:s3cret@db.internal:5433/tracksolid_db",
            "postgresql://fleet:***@db.internal:5433/tracksolid_db",
        ),
        ("postgresql://fleet@db/x", "postgresql://fleet@db:5432/x"),
        ("host=db user=fleet password=s3cret dbname=x", "postgresql://fleet:***@db:5432/x"),
        ("not a url at all", "<unparseable connection string>"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_secrets_seen_in_settings_are_redacted_everywhere(tmp_path):
    load_settings(
        {
            "DATABASE_URL": "postgresql://u:pass-word-1@h/d",
            "GEOCODER_API_KEY": "key-abc-123",
            "RUSTFS_SECRET_KEY": "s3-secret-9",
        },
        tmp_path / "none",
    )
    assert redact("a pass-word-1 b key-abc-123 c s3-secret-9") == "a *** b *** c ***"


def test_verbose_shows_the_detail_but_never_the_password():
    env = {"DATABASE_URL": "postgresql://fleet:sup3r-secret@127.0.0.1:9/x"}
    plain = CliRunner().invoke(app, ["status"], env=env)
    assert plain.exit_code == 1 and "Traceback" not in plain.stderr
    verbose = CliRunner().invoke(app, ["--verbose", "status"], env=env)
    assert verbose.exit_code == 1 and "Traceback" in verbose.stderr and "DatabaseError" in verbose.stderr
    assert "sup3r-secret" not in verbose.output
