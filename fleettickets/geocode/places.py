"""Pure rules for geocoding: what to ask the provider, and whether an answer is plausible."""

from __future__ import annotations

import math
import re

# Network codes the field crews wrap around a place name (CONTRACT section 5).
_PREFIX_CODES = frozenset({"NW", "ADR", "MNT"})
_NUMBERED_CODE = re.compile(r"(?i)(FDT|SDUS)\d*")
_PARTS = re.compile(r"([\s_]+)")
_DIGITS = re.compile(r"\d+")

# Kenya's bounding box (lng/lat), a little generous at the edges.
KENYA = (33.8, -4.8, 42.0, 5.1)
EARTH_RADIUS_KM = 6371.0088


def strip_codes(location_name: str) -> str:
    """The place words of a location name: `NW_Ruaka Town_FDT_07` -> `Ruaka Town`.

    Codes go (NW_, ADR_MNT_, FDT/FDT12/FDT_12, SDUS/SDUS 3) with the digits that belong to them;
    so do digits hung on with an underscore (`Kileleshwa_07`). Digits that are part of a name
    (`Section 58`) stay. An empty result means the name was nothing but codes.
    """
    parts = _PARTS.split(location_name.strip())
    words: list[str] = []
    after_code = False
    for index in range(0, len(parts), 2):
        token = parts[index].strip(" -,.;/")
        separator = parts[index - 1] if index else ""
        if not token or token.upper() in _PREFIX_CODES:
            after_code = False
            continue
        if _NUMBERED_CODE.fullmatch(token):
            after_code = True
            continue
        if _DIGITS.fullmatch(token) and (after_code or "_" in separator or not words):
            continue
        after_code = False
        words.append(token)
    return " ".join(words)


def normalise(text: str) -> str:
    """One spelling per place: case and whitespace folded."""
    return " ".join(text.split()).casefold()


def location_query(place: str, cluster: str) -> str:
    """What the provider is asked for a place: the place, its cluster as context, the country."""
    return f"{place}, {cluster}, Kenya"


def cluster_query(cluster: str) -> str:
    return f"{cluster}, Kenya"


def distance_km(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def in_kenya(lng: float, lat: float) -> bool:
    west, south, east, north = KENYA
    return west <= lng <= east and south <= lat <= north
