"""fleettickets: hourly INC ticket snapshots from S3 into a geocoded PostgreSQL/PostGIS schema."""

__version__ = "0.1.0"
