"""The failures a user can meet. The CLI prints each as one line and exits non-zero."""


class FleetError(Exception):
    """Base class: str(error) is the one line the user sees; it must say what to do."""

    exit_code = 1


class ConfigError(FleetError):
    """A setting is missing or malformed."""


class DatabaseError(FleetError):
    """The database is unreachable, refused us, or is not ready."""


class MigrationError(FleetError):
    """A migration failed or an applied migration file was changed."""


class MigrationBusy(MigrationError):
    """A migration could not get its lock in time (another migrate, or a table in use): retry later."""


class RunDeadline(FleetError):
    """The run passed its deadline (FLEETTICKETS_RUN_DEADLINE_MINUTES) and was stopped."""


class LockHeldTooLong(DatabaseError):
    """Another run has held the ingest lock for longer than the run deadline: a stuck run."""


class StoreError(FleetError):
    """The S3-compatible store is unreachable, misconfigured, or refused a request."""


class RefusedFile(FleetError):
    """A snapshot file that must not be loaded (no ticket_id column, too many bad rows, ...)."""


class ArchiveError(FleetError):
    """The data was committed but moving files to processed/ failed."""


class GeocoderError(FleetError):
    """The geocoding provider refused the run (bad key, quota) or could not be reached."""
