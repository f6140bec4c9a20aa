"""Geocoding: coarse cluster points and precise location points, cached in the gazetteers."""
