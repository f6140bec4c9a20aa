"""Settings from the environment (CONTRACT section 6), with a .env file in the working directory.

Real environment variables win over .env. Nothing here prints a secret: use redact_url() before
showing a database URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from dotenv import dotenv_values

from fleettickets.errors import ConfigError

PROVIDERS = ("locationiq", "opencage")
# A run that is not done by then is stopped; it must end before the next scheduled run starts
# (every 20 minutes: 15 min leaves room). A lock held longer than this is a stuck run: an alarm.
DEFAULT_RUN_DEADLINE_MINUTES = 15.0
# Where the exporter writes (CONTRACT 1b); another layout is followed by configuration.
DEFAULT_PREFIXES = {"inc": "automations/inc/", "crq": "automations/crq/"}
DEFAULT_CHANGES_DIR = "changes/"
# The container worker's start-up state (starting / ready / failed), which the health check reads.
DEFAULT_STATE_FILE = "/tmp/fleettickets-start"

# The secret values of the settings in use; redact() blanks them out of anything shown to a user.
# Values shorter than this are not searched for: they would blank out ordinary words.
_SECRETS: set[str] = set()
MIN_SECRET_LENGTH = 6


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "tickets"
    s3_region: str = "us-east-1"
    geocoder_provider: str = "locationiq"
    geocoder_api_key: str | None = None
    geocoder_base_url: str | None = None
    geocoder_rate: float = 1.0
    run_deadline_minutes: float = DEFAULT_RUN_DEADLINE_MINUTES
    inc_prefix: str = DEFAULT_PREFIXES["inc"]
    crq_prefix: str = DEFAULT_PREFIXES["crq"]
    changes_dir: str = DEFAULT_CHANGES_DIR
    # Optional push monitors (healthchecks.io, Uptime Kuma): dataset -> URL, pinged after each run.
    push_urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def run_deadline_seconds(self) -> float:
        return self.run_deadline_minutes * 60

    def require_database(self) -> str:
        if not self.database_url:
            raise ConfigError(
                "DATABASE_URL is not set: put it in the environment or a .env file "
                "(e.g. postgresql://user:password@host:5432/dbname)"
            )
        try:
            psycopg.conninfo.conninfo_to_dict(self.database_url)
        except psycopg.ProgrammingError:
            raise ConfigError(
                f"DATABASE_URL is malformed ({redact_url(self.database_url)}): "
                "expected postgresql://user:password@host:5432/dbname"
            ) from None
        return self.database_url

    def require_store(self) -> None:
        missing = [
            name
            for name, value in (
                ("RUSTFS_ENDPOINT", self.s3_endpoint),
                ("RUSTFS_ACCESS_KEY", self.s3_access_key),
                ("RUSTFS_SECRET_KEY", self.s3_secret_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set: the bucket cannot be reached without them")

    def require_geocoder(self) -> str:
        if not self.geocoder_api_key:
            raise ConfigError("GEOCODER_API_KEY is not set: geocoding needs a LocationIQ or OpenCage key")
        return self.geocoder_api_key


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Read settings from `environ` (default os.environ) over `env_file` (default ./.env)."""
    env_file = env_file if env_file is not None else Path.cwd() / ".env"
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file.is_file() else {}
    env = {**from_file, **(os.environ if environ is None else environ)}

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    provider = (get("GEOCODER_PROVIDER") or "locationiq").lower()
    if provider not in PROVIDERS:
        raise ConfigError(f"GEOCODER_PROVIDER must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    rate_text = get("GEOCODER_RATE") or "1"
    try:
        rate = float(rate_text)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        raise ConfigError(f"GEOCODER_RATE must be a positive number of requests per second, not {rate_text!r}")

    deadline_text = get("FLEETTICKETS_RUN_DEADLINE_MINUTES") or str(DEFAULT_RUN_DEADLINE_MINUTES)
    try:
        deadline = float(deadline_text)
    except ValueError:
        deadline = 0.0
    if not 0 < deadline < 24 * 60:
        raise ConfigError(
            f"FLEETTICKETS_RUN_DEADLINE_MINUTES must be a number of minutes (under a day), not {deadline_text!r}"
        )

    prefixes = {
        name: _folder(get(f"FLEETTICKETS_{name.upper()}_PREFIX") or default, f"FLEETTICKETS_{name.upper()}_PREFIX")
        for name, default in DEFAULT_PREFIXES.items()
    }
    inc, crq = prefixes["inc"], prefixes["crq"]
    if inc.startswith(crq) or crq.startswith(inc):
        raise ConfigError(
            f"the INC and CRQ prefixes must not hold one another ({inc!r}, {crq!r}): a run of one dataset"
            " would list the other's files"
        )
    changes_dir = _folder(get("FLEETTICKETS_CHANGES_DIR") or DEFAULT_CHANGES_DIR, "FLEETTICKETS_CHANGES_DIR")
    if changes_dir == "processed/":
        raise ConfigError("FLEETTICKETS_CHANGES_DIR cannot be processed/: that is where files are archived")
    push_urls = {name: url for name in DEFAULT_PREFIXES if (url := get(f"FLEETTICKETS_PUSH_URL_{name.upper()}"))}
    for name, url in push_urls.items():
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"FLEETTICKETS_PUSH_URL_{name.upper()} must be an http(s) URL")

    settings = Settings(
        database_url=get("DATABASE_URL"),
        s3_endpoint=get("RUSTFS_ENDPOINT"),
        s3_access_key=get("RUSTFS_ACCESS_KEY"),
        s3_secret_key=get("RUSTFS_SECRET_KEY"),
        s3_bucket=get("RUSTFS_BUCKET") or "tickets",
        s3_region=get("RUSTFS_REGION") or "us-east-1",
        geocoder_provider=provider,
        geocoder_api_key=get("GEOCODER_API_KEY"),
        geocoder_base_url=get("GEOCODER_BASE_URL"),
        geocoder_rate=rate,
        run_deadline_minutes=deadline,
        inc_prefix=inc,
        crq_prefix=crq,
        changes_dir=changes_dir,
        push_urls=push_urls,
    )
    _SECRETS.clear()
    _SECRETS.update(
        v
        for v in (
            settings.geocoder_api_key,
            settings.s3_secret_key,
            _password(settings.database_url),
            *push_urls.values(),  # a push monitor's URL is its secret: anyone with it can report for us
        )
        if v and len(v) >= MIN_SECRET_LENGTH
    )
    return settings


def _folder(value: str, name: str) -> str:
    """A bucket folder: relative, ending in /."""
    folder = value.strip().lstrip("/")
    if not folder or ".." in folder.split("/"):
        raise ConfigError(f"{name} must be a folder of the bucket, like automations/inc/, not {value!r}")
    return folder if folder.endswith("/") else folder + "/"


def _password(url: str | None) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(url).get("password") if url else None
    except psycopg.ProgrammingError:
        return None


def redact(text: str) -> str:
    """`text` with every known secret replaced by ***."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """A libpq URL or key=value string fit to print: the password replaced by ***."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable connection string>"
    if "password" in params:
        params["password"] = "***"
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    user = params.get("user", "")
    auth = f"{user}{':***' if 'password' in params else ''}@" if user else ""
    return f"postgresql://{auth}{host}:{port}/{params.get('dbname', '')}"


def state_file() -> Path:
    """Where the worker records its start-up state for the health check (FLEETTICKETS_STATE_FILE)."""
    return Path(os.environ.get("FLEETTICKETS_STATE_FILE") or DEFAULT_STATE_FILE)
