"""JSON for machines: numbers as numbers, dates and moments as ISO strings, no value as null.

PostgreSQL's numeric arrives as Decimal and would otherwise be written as a string; every value of
a numeric column becomes a float, so a column keeps one type (polars and JavaScript read a number).
A moment is written in UTC with Z, whatever the session's time zone.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """A value json can write as it should read: Decimal -> float (NaN/Infinity -> None), dates -> ISO."""
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON (no NaN), refusing any type it does not know rather than writing it as a string."""
    return json.dumps(plain(value), allow_nan=False)
