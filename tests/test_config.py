"""Settings: .env and the environment, defaults, refusals, the documented names, and a missing or
malformed DATABASE_URL as one line from every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleettickets.cli import app
from fleettickets.config import load_settings
from fleettickets.errors import ConfigError
from tests.conftest import CONTRACT_NAMES

REPO = Path(__file__).resolve().parent.parent


def test_env_file_is_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://a:pw@h/db\nRUSTFS_BUCKET=from-file\nGEOCODER_RATE=2\n")
    settings = load_settings({"RUSTFS_BUCKET": "from-env"}, env_file)
    assert (settings.database_url, settings.s3_bucket, settings.geocoder_rate) == (
        "postgresql://a:pw@h/db",
        "from-env",
        2.0,
    )
    defaults = load_settings({}, tmp_path / "missing.env")
    assert (defaults.s3_bucket, defaults.s3_region, defaults.geocoder_provider, defaults.geocoder_rate) == (
        "tickets",
        "us-east-1",
        "locationiq",
        1.0,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GEOCODER_PROVIDER": "google"}, "GEOCODER_PROVIDER must be one of locationiq, opencage"),
        ({"GEOCODER_RATE": "fast"}, "GEOCODER_RATE must be a positive number"),
        ({"GEOCODER_RATE": "0"}, "GEOCODER_RATE must be a positive number"),
    ],
)
def test_bad_settings_are_refused(env, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_settings(env, tmp_path / "none")


def test_every_setting_is_documented():
    example, readme = (REPO / ".env.example").read_text(), (REPO / "README.md").read_text()
    for name in CONTRACT_NAMES:
        assert re.search(rf"^{name}=", example, re.M), name
    for name in ("FLEETTICKETS_RUN_DEADLINE_MINUTES", "FLEETTICKETS_MAX_AGE_HOURS"):
        assert re.search(rf"^#? ?{name}=", example, re.M), name
        assert f"`{name}`" in readme, name


NO_DATABASE_URL = (
    "error: DATABASE_URL is not set: put it in the environment or a .env file "
    "(e.g. postgresql://user:password@host:5432/dbname)\n"
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status"], NO_DATABASE_URL),
        (["migrate"], NO_DATABASE_URL),
        # the bucket is named before the database: the store's settings are missed first
        (
            ["ingest", "--from-bucket", "--apply"],
            "error: RUSTFS_ENDPOINT, RUSTFS_ACCESS_KEY, RUSTFS_SECRET_KEY not set: the bucket cannot be reached "
            "without them\n",
        ),
        (["geocode", "clusters"], NO_DATABASE_URL),
        (["report", "daily"], NO_DATABASE_URL),
        (["gazetteer", "list"], NO_DATABASE_URL),
    ],
)
def test_no_env_file_and_no_database_url_is_one_line(args, message):
    result = CliRunner().invoke(app, args, env={})
    assert result.exit_code == 1
    assert result.stderr == message


def test_malformed_database_url_is_one_line():
    result = CliRunner().invoke(app, ["status"], env={"DATABASE_URL": "postgresql://fleet:pw@host:notaport/db x"})
    assert result.exit_code == 1
    assert result.stderr == (
        "error: DATABASE_URL is malformed (<unparseable connection string>): "
        "expected postgresql://user:password@host:5432/dbname\n"
    )
    assert ":pw@" not in result.output
