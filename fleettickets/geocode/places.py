"""The geocoding rules, each in one place: pure functions and the figures they use.

What a label stands for (strip_codes, read_label: its gazetteer key, its place words, or only
network codes), what is asked and which candidate is believed (box_around, choose_cluster,
choose_location, the wrong-city guard GUARD_KM, junk coordinates), where a hand may place a point
(placement_problem), which known place a misspelt one reuses (match_forms, choose_match).
Orchestration (run.py), the CLI and the review page call these; the database applies a rule only
where it must run there, and then takes it from here as a parameter (GUARD_KM, MATCH_SIMILARITY),
or defines it there alone: the far rule, which only the review queue (a view) applies, is
tickets.far_km() in migrations/R__20_geocode.sql.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

# Network codes the field crews wrap around a place name (CONTRACT section 5).
_PREFIX_CODES = frozenset({"NW", "ADR", "MNT"})
_NUMBERED_CODE = re.compile(r"(?i)(FDT|SDUS)\d*")
_PARTS = re.compile(r"([\s_]+)")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W_]+")
# Apostrophes inside a name (`Lang'ata`; typographic U+2018/U+2019, the modifier letter U+02BC, the
# accents typed for one): the feed and the maps each spell such names with or without one.
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")

# Kenya's bounding box (lng/lat), a little generous at the edges.
KENYA = (33.8, -4.8, 42.0, 5.1)
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180

# The wrong-city guard (CONTRACT section 5): no point farther than this from its cluster's point is
# ever accepted, whether a provider's, a reuse's or a hand's. The search box reaches as far.
GUARD_KM = 25.0

# What is asked, and how it is chosen: a cache entry decided under an older strategy is asked
# again once (1: "place, cluster, Kenya", first result taken; 2: the place words alone, restricted
# to a box around the cluster point, the nearest fitting candidate chosen).
STRATEGY = 2
CANDIDATES = 5  # limit=N: enough for the ambiguous names' towns inside one box


# Kinds of result that are administrative areas, not locations: LocationIQ's class/type
# `boundary/administrative`, OpenCage's components._type `county`, `state`, `country`, ...
ADMIN_KINDS = frozenset({"boundary", "administrative", "county", "state", "state_district", "region", "country"})
# Roads (LocationIQ class `highway`, OpenCage _type `road`) are named after where they lead, not
# where they are: Nairobi's Ngong Road runs through Kilimani, 15 km from Ngong. Never a location.
ROAD_KINDS = frozenset({"highway", "road"})
# Settlements (LocationIQ class `place`; OpenCage _type `city`, `suburb`, ...): what a field place
# name is. They win over anything else named like the place (a school, a shop, a racecourse), as
# those too can be named after a place elsewhere; distance decides within each rank.
SETTLEMENT_KINDS = frozenset(
    {"place", "city", "town", "village", "hamlet", "suburb", "neighbourhood", "quarter", "city_district", "locality"}
)


@dataclass(frozen=True)
class Candidate:
    """One result of a provider: a point, its display name and its kind as the provider says it
    (`place/suburb`, `boundary/administrative`, `county`, ...)."""

    lng: float
    lat: float
    display_name: str
    kind: str = ""

    @property
    def admin(self) -> bool:
        return not ADMIN_KINDS.isdisjoint(self.kind.split("/"))

    @property
    def road(self) -> bool:
        return not ROAD_KINDS.isdisjoint(self.kind.split("/"))

    @property
    def settlement(self) -> bool:
        return not SETTLEMENT_KINDS.isdisjoint(self.kind.split("/"))


@dataclass(frozen=True)
class Choice:
    status: str  # ok | not_found | rejected
    candidate: Candidate | None = None
    distance_km: float | None = None
    detail: str | None = None

    @property
    def point(self) -> tuple[str | None, float | None, float | None]:
        """(display name, lng, lat) of the chosen candidate; all None when none was chosen."""
        c = self.candidate
        return (c.display_name, c.lng, c.lat) if c else (None, None, None)


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


def words(text: str) -> list[str]:
    """The words of a name, folded, apostrophes (typographic ones too) dropped: `Lang'ata` -> ['langata'].

    For comparing names only: the cache key (location_key) keeps its own spelling."""
    return _WORD.findall(_APOSTROPHES.sub("", text.casefold()))


def location_key(place: str, cluster: str) -> str:
    """The cache key of a place in a cluster (the same under every strategy, so a verified entry
    keeps its tickets): `kileleshwa, nairobi west, kenya`."""
    return normalise(f"{place}, {cluster}, Kenya")


@dataclass(frozen=True)
class Label:
    """What a ticket's location_name stands for in its cluster's gazetteer."""

    key: str  # the location entry (tickets.geo_locations.query) of every spelling of the place
    # What the provider is asked: the place words alone. Context words (the cluster) that are not
    # in the place's own address make Nominatim-based providers find nothing; the box around the
    # cluster's point does the disambiguating. For a label of codes alone: the label, folded.
    place: str
    codes_only: bool  # nothing but network codes (`NW_FDT_07`, a cabinet): never asked, placed by hand


def read_label(location_name: str, cluster: str) -> Label:
    """The rule from a label to its entry, for every caller: `NW_Kileleshwa_FDT_03` in Nairobi West
    is `kileleshwa, nairobi west, kenya`, asked as `Kileleshwa`; a label of codes alone is an entry
    of its own, keyed by the whole label."""
    place = strip_codes(location_name)
    if place:
        return Label(location_key(place, cluster), place, codes_only=False)
    return Label(location_key(location_name, cluster), normalise(location_name), codes_only=True)


def box_around(lng: float, lat: float, km: float) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the square reaching `km` from a point along each axis."""
    dlat = km / KM_PER_DEGREE
    dlng = km / (KM_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    return (
        max(lng - dlng, -180.0),
        max(lat - dlat, -90.0),
        min(lng + dlng, 180.0),
        min(lat + dlat, 90.0),
    )


def coordinate(value: object, limit: float) -> float | None:
    """A provider's number as a coordinate, or None for junk: unparseable, NaN, infinite (`1e999`)
    or beyond +-limit (90 for a latitude, 180 for a longitude)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -limit <= number <= limit else None


def names_place(candidate: Candidate, place: str) -> bool:
    """Whether a candidate's own name (its display name's first part) carries every word of the place."""
    name = set(words(candidate.display_name.split(",")[0]))
    return bool(name) and set(words(place)) <= name


def choose_location(
    candidates: Sequence[Candidate], place: str, centre: tuple[float, float], cluster: str, guard_km: float
) -> Choice:
    """The guard as a chooser: of the candidates named like our place (neither an administrative
    area nor a road), settlements first, the one nearest the cluster's point, if within the guard
    radius."""
    fitting = [c for c in candidates if not c.admin and not c.road and names_place(c, place)]
    if not fitting:
        if not candidates:
            return Choice("not_found")
        return Choice("not_found", detail=f"{len(candidates)} candidate(s), none a place named {place!r}")
    ranked = sorted((distance_km(centre[0], centre[1], c.lng, c.lat), i) for i, c in enumerate(fitting))
    nearest = ranked[0][0]
    if nearest > guard_km:
        return Choice(
            "rejected",
            distance_km=nearest,
            detail=f"nearest of {len(fitting)} candidate(s) {nearest:.1f} km from the {cluster} point "
            f"(guard {guard_km:g} km)",
        )
    _, distance, index = min((not fitting[i].settlement, d, i) for d, i in ranked if d <= guard_km)
    return Choice("ok", fitting[index], distance)


def choose_cluster(candidates: Sequence[Candidate]) -> Choice:
    """One point per cluster, in Kenya: the most prominent place (never a road named after the
    town); an administrative area (a county of that name) only when no place came back, as a
    coarse point is better than none."""
    inside = [c for c in candidates if in_kenya(c.lng, c.lat)]
    if not inside:
        if not candidates:
            return Choice("not_found")
        first = candidates[0]
        return Choice("rejected", detail=f"outside Kenya ({first.lat:.4f}, {first.lng:.4f})")
    places = [c for c in inside if not c.admin and not c.road]
    if places:
        return Choice("ok", places[0])
    areas = [c for c in inside if c.admin]
    if not areas:
        return Choice("not_found", detail=f"{len(candidates)} candidate(s), only roads")
    return Choice("ok", areas[0], detail=f"an administrative area ({areas[0].kind}): no place of that name came back")


def distance_km(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def in_kenya(lng: float, lat: float) -> bool:
    west, south, east, north = KENYA
    return west <= lng <= east and south <= lat <= north


# Typo-tolerant reuse: a place the provider cannot find takes the point of a known place of its
# cluster whose name is clearly the same. pg_trgm's similarity (0..1) of the folded names: 0.6 takes
# `Kileleswa` for `Kileleshwa` (0.62) and `Roysambo` for `Roysambu` (0.64) but not `Kilimani` for
# `Milimani` (0.50), which are two places. A runner-up this close means two names are equally
# likely: no reuse. The database scores the pairs, and sends back only those at or above
# MATCH_SIMILARITY, which it is given (tickets.name_similarity).
MATCH_SIMILARITY = 0.6
MATCH_MARGIN = 0.1
# Words the field hangs after a place's name (`Ruaka Town`, `Kitengela Mall`, `Tassia 2`, `Nyalenda B`).
TRAILING_WORDS = frozenset({"town", "mall", "estate", "centre", "center", "stage", "market", "phase", "shops"})


def fold(text: str) -> str:
    """A name as compared for reuse: its words, folded (`Lang'ata  Town` -> `langata town`)."""
    return " ".join(words(text))


def _marks(name: str) -> frozenset[str]:
    """Numbers and single letters: they tell places apart (`Section 9` is not `Section 58`, `South B`
    not `South C`), so a reuse needs the same ones on both sides."""
    return frozenset(w for w in name.split() if w.isdigit() or len(w) == 1)


def match_forms(place: str) -> list[str]:
    """The place's folded name, and that name without one trailing word, number or letter
    (`Tassia 2` -> `tassia`), when a word is left."""
    folded = fold(place)
    *head, last = folded.split() or [""]
    trailing = last in TRAILING_WORDS or last.isdigit() or len(last) == 1
    return [folded, " ".join(head)] if head and trailing else [folded]


@dataclass(frozen=True)
class Known:
    key: str  # the gazetteer entry (tickets.geo_locations.query)
    place: str

    # Worked out once per known place, not once per place it is compared with.
    @cached_property
    def name(self) -> str:
        """The name as compared (fold)."""
        return fold(self.place)

    @cached_property
    def marks(self) -> frozenset[str]:
        return _marks(self.name)


@dataclass(frozen=True)
class Match:
    known: Known
    score: float  # 1.0: the same words once a trailing word went

    @property
    def detail(self) -> str:
        return f"match of {self.known.place!r} (similarity {self.score:.2f})"


def choose_match(place: str, known: Sequence[Known], similarity: Callable[[str, str], float]) -> Match | None:
    """The known place (of the same cluster) whose name is clearly this one's, or None: the best
    score of the place's forms (match_forms), numbers and letters alike, at least MATCH_SIMILARITY,
    and MATCH_MARGIN ahead of any other known name. similarity(form, folded known name): pg_trgm's;
    it may answer 0 for a pair below MATCH_SIMILARITY, as that pair cannot be chosen."""
    forms = [(f, _marks(f)) for f in match_forms(place) if f]
    scored: list[tuple[float, Known]] = []
    for k in known:
        scores = [1.0 if f == k.name else similarity(f, k.name) for f, marks in forms if marks == k.marks]
        if scores and (best := max(scores)) >= MATCH_SIMILARITY:
            scored.append((best, k))
    if not scored:
        return None
    scored.sort(key=lambda s: -s[0])
    if len(scored) > 1 and scored[0][0] - scored[1][0] < MATCH_MARGIN:
        return None
    return Match(scored[0][1], scored[0][0])


def candidates_record(candidates: Sequence[Candidate], centre: tuple[float, float]) -> list[dict[str, object]]:
    """What the provider answered, as the review queue shows it (tickets.geo_locations.candidates)."""
    return [
        {
            "name": c.display_name,
            "kind": c.kind,
            "lng": c.lng,
            "lat": c.lat,
            "km": round(distance_km(centre[0], centre[1], c.lng, c.lat), 2),
        }
        for c in candidates
    ]


def placement_problem(
    lng: float, lat: float, centre: tuple[float, float] | None, cluster: str, guard_km: float
) -> str | None:
    """Why a hand-placed location point is refused, or None: outside Kenya, or beyond the guard of
    its cluster's point (the rule a provider's answer obeys too)."""
    if not in_kenya(lng, lat):
        return f"{lat:.5f}, {lng:.5f} is outside Kenya"
    if centre is not None and (d := distance_km(centre[0], centre[1], lng, lat)) > guard_km:
        return f"{lat:.5f}, {lng:.5f} is {d:.1f} km from the {cluster} point (guard {guard_km:g} km)"
    return None
