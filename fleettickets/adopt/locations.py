"""The location cache's keys (pure): the earlier loader keyed its entries its own way ("Kileleshwa,
Nairobi West, Kenya"); each gets this package's key, and its place and cluster where the loader's
table lacks them, by this package's own rules: a ticket label's entry as a geocoding run reads it
(read_label) and the cache key of a place in a cluster (location_key)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from fleettickets.geocode.places import location_key, normalise, read_label


@dataclass(frozen=True)
class Location:
    """A location entry: the loader's key, this package's, and the place and cluster it stands for."""

    old: str
    new: str
    place: str
    cluster: str


@dataclass
class Rekeyed:
    locations: list[Location] = field(default_factory=list)
    spellings: list[tuple[str, str, str]] = field(default_factory=list)  # (location_name, cluster, new key)
    whence: Counter[str] = field(default_factory=Counter)  # stored / labels / query -> how many entries
    unplaced: list[str] = field(default_factory=list)  # old keys neither the labels nor the query place
    same_place: list[tuple[str, str, str]] = field(default_factory=list)  # (old key, old key, the one new key)


def rekey(
    entries: Iterable[tuple[str, str | None, str | None]], labels: Iterable[tuple[str, str]], clusters: Collection[str]
) -> Rekeyed:
    """Each entry (old key, place, cluster; None where the table lacks the column) with this
    package's key; and every ticket label (location_name, cluster) that names a cached place,
    linked to it as a geocoding run links a new spelling (the loader kept no such table)."""
    keyed = label_keys(labels)
    labelled: dict[str, tuple[str, str]] = {}
    for _, cluster, place, key in keyed:
        labelled.setdefault(key, (place, cluster))
    found = Rekeyed()
    seen: dict[str, str] = {}
    for old, place, cluster in entries:
        where = locate(old, place, cluster, labelled, clusters)
        if where is None:
            found.unplaced.append(old)
            continue
        new = location_key(where[0], where[1])
        if new in seen:
            found.same_place.append((seen[new], old, new))
        seen[new] = old
        found.whence[where[2]] += 1
        found.locations.append(Location(old, new, where[0], where[1]))
    found.spellings = [(name, cluster, key) for name, cluster, _, key in keyed if key in seen]
    return found


def label_keys(labels: Iterable[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(location_name, cluster, place, key) of each ticket label, read as a geocoding run reads it."""
    found = []
    for name, cluster in sorted(labels):
        label = read_label(name, cluster)
        found.append((name, cluster, label.place, label.key))
    return found


def locate(
    query: str,
    place: str | None,
    cluster: str | None,
    labelled: Mapping[str, tuple[str, str]],
    clusters: Collection[str],
) -> tuple[str, str, str] | None:
    """(place, cluster, whence) of a location entry: as stored; else from a ticket label that this
    package's rules key as the query; else read from the query (`place, cluster, Kenya`), the
    cluster being one the gazetteer knows, or the only reading. None when neither says."""
    if place and cluster:
        return place, cluster, "stored"
    label = labelled.get(normalise(query))
    if label and _fits(label, place, cluster):
        return (*label, "labels")
    parts = [part.strip() for part in query.split(",")]
    if len(parts) > 2 and normalise(parts[-1]) == "kenya":
        parts.pop()
    readings = [(", ".join(parts[:i]), ", ".join(parts[i:])) for i in range(1, len(parts))]
    readings = [r for r in readings if all(r) and _fits(r, place, cluster)]
    known = {normalise(c) for c in clusters}
    named = [r for r in readings if normalise(r[1]) in known]
    if named:
        return (*named[0], "query")
    return (*readings[0], "query") if len(readings) == 1 else None


def _fits(found: tuple[str, str], place: str | None, cluster: str | None) -> bool:
    return (place is None or normalise(place) == normalise(found[0])) and (
        cluster is None or normalise(cluster) == normalise(found[1])
    )
