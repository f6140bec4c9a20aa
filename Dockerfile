# A small batch worker for Coolify: no server. PID 1 (python -m fleettickets.worker) applies any
# pending migration when a new image starts, then waits; each dataset's ingest runs as a Scheduled
# Task (`./run_ingest.sh inc`, `./run_ingest.sh crq`) at `*/20 6-20 * * *` (EAT). See the README's
# Deploy section.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# A virtualenv: the same on the official image (python in /usr/local) and on a Debian python3
# (which refuses system-wide pip installs).
RUN python3 -m venv /opt/venv
# Exact versions with hashes (requirements.lock, kept with pip-tools): two builds of one commit
# install the same bytes. Its own layer, so a code change does not reinstall the dependencies.
COPY requirements.lock /tmp/
RUN pip install --no-deps --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock
# The package itself, built with the locked hatchling; the wheel carries the migrations. The
# sources go afterwards: every command imports the installed, byte-compiled package.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fleettickets ./fleettickets
COPY migrations ./migrations
RUN pip install --no-deps --no-build-isolation /src && rm -rf /src
WORKDIR /app
COPY run_migrations.py run_ingest.sh ./
RUN useradd --create-home --uid 10001 fleet && chmod +x run_ingest.sh

USER fleet

# Healthy = this worker can do its job: start-up migrations done, settings valid, database
# reachable (never "the data is fresh": that alarm is the scheduled task's exit status). Docker
# 20.10 has no --start-interval and runs the first check one interval after start, so the
# interval is short: healthy about 15 s after start. 4 retries: a database blip under a minute
# does not flip it.
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=4 \
    CMD ["python", "-m", "fleettickets.health"]

# Exec form: python is PID 1 and gets SIGTERM; it exits at once (docker stop < 1 s).
CMD ["python", "-m", "fleettickets.worker"]
