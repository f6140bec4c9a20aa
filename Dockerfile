# A small batch worker for Coolify: no server. The container is kept alive and the ingest runs
# as a Scheduled Task: `fleettickets ingest --from-bucket --apply` at `15 7-19 * * *` (EAT).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md run_migrations.py run_ingest.sh ./
COPY fleettickets ./fleettickets
COPY migrations ./migrations
# Runtime dependencies only; the wheel carries the migrations inside the package.
RUN pip install . \
    && useradd --create-home --uid 10001 fleet \
    && chmod +x run_ingest.sh

USER fleet

# Unhealthy when the last successful ingest is over 26 h old (the schedule leaves 12 h overnight)
# or a migration is pending.
HEALTHCHECK --interval=30m --timeout=60s --start-period=2m --retries=1 \
    CMD fleettickets status --max-age-hours 26 > /dev/null || exit 1

CMD ["tail", "-f", "/dev/null"]
