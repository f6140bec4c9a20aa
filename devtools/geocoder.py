"""A strict stand-in for LocationIQ and OpenCage, for the tests, the demo and the benchmarks.

It answers GET /v1/search (LocationIQ) and GET /geocode/v1/json (OpenCage) on a loopback port,
in their formats (CONTRACT section 5), out of a small map of Kenya (WORLD), and matches the way
Nominatim-based services do, not the way a test would like:

- every word of the query must match the place's name or its address chain (town, county,
  country), and at least one must be in its name; a context word that is not in the place's
  address finds nothing (LocationIQ: 404 `Unable to geocode`). OpenCage drops a comma-separated
  context part it cannot match and answers the rest;
- words are compared folded, apostrophes dropped, as the providers find `Lang'ata` for `Langata`
  (and the map spells a few names otherwise than the field: `Kang'emi` for `Kangemi`);
- roads are on the map too, named after the town they lead to (Ngong Road runs through Kilimani,
  15 km from Ngong): LocationIQ class/type `highway`/`trunk`, OpenCage `components._type` `road`;
- names are ambiguous (Milimani in five towns, Makongeni, Bondeni, Majengo, Huruma, Manyatta,
  Shauri Moyo, Mjini, Old Town) and, without a restriction, the most prominent comes first;
- a county of the same name often outranks the town (`Nakuru` -> Nakuru County first), and says
  it is an administrative area (LocationIQ class/type `boundary`/`administrative`, OpenCage
  `components._type`);
- `limit`, `countrycodes`/`countrycode`, LocationIQ `viewbox` + `bounded=1` and OpenCage
  `bounds` (restrict) and `proximity` (bias) are honoured;
- a wrong key is a 401.

For failure modes, `script` queues answers (status, body: JSON-able or raw bytes) that are sent
before any lookup, `delay_s` slows every answer, `down_after` stops listening after that many
requests (connections are refused from then on), and `hits` records every request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from devtools.feed import CLUSTERS, Clusters
from fleettickets.geocode.places import distance_km, words

ADMIN_KINDS = frozenset({"county", "state", "country"})
ROAD_KINDS = frozenset({"trunk", "primary"})  # OSM highway=*


@dataclass(frozen=True)
class Feature:
    """Something on the map: a place (suburb, town, city), a road or an administrative area."""

    name: str
    kind: str
    lng: float
    lat: float
    chain: tuple[str, ...]  # the address above it, nearest first
    importance: float
    country: str = "ke"

    @property
    def admin(self) -> bool:
        return self.kind in ADMIN_KINDS

    @property
    def road(self) -> bool:
        return self.kind in ROAD_KINDS

    @property
    def display_name(self) -> str:
        return ", ".join((self.name, *self.chain))

    def match(self, query: str, drop_context: bool) -> int | None:
        """How many context parts matched (ranking), or None if the query does not find this
        feature. Every word must be in the name or the chain, one at least in the name;
        `drop_context`: comma parts after the first that do not match are ignored (OpenCage)."""
        name, address = set(words(self.name)), set(words(self.display_name))
        first, *context = [words(part) for part in query.split(",")]
        if not first or not set(first) <= address or not set(first) & name:
            return None
        matched = sum(set(part) <= address for part in context if part)
        if not drop_context and matched < sum(1 for part in context if part):
            return None
        return matched


# Towns: kind, lng, lat, county, importance. The county outranks its town where a Nominatim
# search for the bare name returns the boundary first.
TOWNS: dict[str, tuple[str, float, float, str, float]] = {
    "Nairobi": ("city", 36.8219, -1.2921, "Nairobi County", 0.75),
    "Nakuru": ("city", 36.0800, -0.3030, "Nakuru County", 0.60),
    "Kisumu": ("city", 34.7680, -0.0920, "Kisumu County", 0.60),
    "Mombasa": ("city", 39.6680, -4.0430, "Mombasa County", 0.65),
    "Eldoret": ("city", 35.2700, 0.5140, "Uasin Gishu County", 0.55),
    "Thika": ("town", 37.0690, -1.0330, "Kiambu County", 0.50),
    "Kiambu": ("town", 36.8350, -1.1710, "Kiambu County", 0.45),
    "Machakos": ("town", 37.2630, -1.5170, "Machakos County", 0.50),
    "Nyeri": ("town", 36.9520, -0.4200, "Nyeri County", 0.50),
    "Kakamega": ("town", 34.7520, 0.2830, "Kakamega County", 0.50),
    "Kitale": ("town", 35.0060, 1.0150, "Trans-Nzoia County", 0.45),
    "Kitengela": ("town", 36.9580, -1.4760, "Kajiado County", 0.40),
    "Lamu": ("town", 40.9020, -2.2710, "Lamu County", 0.45),
    "Embu": ("town", 37.4570, -0.5310, "Embu County", 0.45),
    "Kitui": ("town", 38.0120, -1.3670, "Kitui County", 0.40),
    "Ngong": ("town", 36.6520, -1.3610, "Kajiado County", 0.40),
}
# Counties: centroid and importance (a county's centroid can be tens of km from its town).
COUNTIES: dict[str, tuple[float, float, float]] = {
    "Nairobi County": (36.8500, -1.3000, 0.70),
    "Nakuru County": (36.0800, -0.5000, 0.65),
    "Kisumu County": (34.8300, -0.1800, 0.65),
    "Mombasa County": (39.6600, -4.0300, 0.60),
    "Uasin Gishu County": (35.3000, 0.5500, 0.50),
    "Kiambu County": (36.8000, -1.0300, 0.60),
    "Machakos County": (37.4500, -1.3500, 0.60),
    "Nyeri County": (36.9000, -0.3500, 0.60),
    "Kakamega County": (34.8000, 0.3500, 0.60),
    "Trans-Nzoia County": (34.9500, 1.0500, 0.50),
    "Kajiado County": (36.7800, -2.0000, 0.50),
    "Lamu County": (40.7500, -2.0500, 0.55),
    "Embu County": (37.6000, -0.6000, 0.50),
    "Kitui County": (38.3000, -1.5000, 0.50),
}
# The town each field cluster lies in (a cluster named after a town is that town).
CLUSTER_TOWN = {"Nairobi West": "Nairobi", "Nairobi East": "Nairobi", "Nairobi North": "Nairobi"}

# The realistic field: the feed's clusters with the names that trip geocoders added, and three
# more towns. Tickets are drawn from this table by the quality benchmark.
_MORE_PLACES: dict[str, tuple[tuple[str, float, float], ...]] = {
    # Ngong: a town 15 km out whose road starts 1 km from the cluster point; Kangemi: spelled
    # Kang'emi on the map.
    "Nairobi West": (("Milimani", 36.8005, -1.2905), ("Ngong", 36.6520, -1.3610), ("Kangemi", 36.7460, -1.2650)),
    "Nairobi East": (("Makongeni", 36.8590, -1.2930), ("Shauri Moyo", 36.8520, -1.2870), ("Majengo", 36.8420, -1.2870)),
    "Nairobi North": (("Huruma", 36.8730, -1.2590),),
    "Mombasa": (("Old Town", 39.6790, -4.0620), ("Bondeni", 39.6620, -4.0560), ("Majengo", 39.6600, -4.0450)),
    "Kisumu": (("Manyatta", 34.7820, -0.0860), ("Shauri Moyo", 34.7750, -0.0980)),
    "Nakuru": (("Bondeni", 36.0700, -0.2870),),
    "Eldoret": (("Huruma", 35.2900, 0.5330),),
    "Nyeri": (("Majengo", 36.9550, -0.4250),),
}
FIELD: Clusters = {
    **{c: (r, x, y, spots + _MORE_PLACES.get(c, ())) for c, (r, x, y, spots) in CLUSTERS.items()},
    "Kitale": (
        "Rift Valley",
        35.0060,
        1.0150,
        (("Milimani", 35.0030, 1.0250), ("Tuwan", 35.0150, 1.0300), ("Kibomet", 35.0200, 1.0000)),
    ),
    "Kitengela": (
        "Rift Valley",
        36.9580,
        -1.4760,
        (("Milimani", 36.9650, -1.4700), ("Noonkopir", 36.9700, -1.4850), ("Acacia", 36.9500, -1.4700)),
    ),
    "Lamu": (
        "Coast",
        40.9020,
        -2.2710,
        (("Old Town", 40.9020, -2.2700), ("Mjini", 40.9010, -2.2690), ("Shela", 40.9150, -2.2950)),
    ),
}
# Field names no map knows as spelled (local usage; `Ruaka Town` is `Ruaka` on the map).
UNMAPPED = frozenset(
    {
        ("Nairobi North", "Ruaka Town"),
        ("Kiambu", "Kiambu Town"),
        ("Thika", "Landless"),
        ("Nyeri", "Skuta"),
        ("Kitengela", "Acacia"),
    }
)
# The field as the review benchmark sees it: FIELD, plus spellings no map has of places it has
# (misspelt, or a word, number or letter added: the typo-tolerant reuse's work), and labels that
# are nothing but network codes at one fixed spot crews know (a fibre cabinet: the review's).
VARIANTS = {
    ("Nairobi West", "Kileleswa"): "Kileleshwa",
    ("Nairobi West", "Lavingtone"): "Lavington",
    ("Nairobi East", "Buru Buru"): "Buruburu",
    ("Nairobi East", "Umoja 2"): "Umoja",
    ("Nairobi East", "Kayole Stage"): "Kayole",
    ("Nairobi North", "Roysambo"): "Roysambu",
    ("Nairobi North", "Kasarani Mall"): "Kasarani",
    ("Kisumu", "Nyalenda B"): "Nyalenda",
    ("Mombasa", "Nyali Centre"): "Nyali",
    ("Eldoret", "Langas 2"): "Langas",
}
CABINETS = {
    ("Nairobi West", "NW_FDT_07"): (36.7950, -1.3000),
    ("Nairobi East", "NW_FDT_12"): (36.8850, -1.2900),
    ("Mombasa", "ADR_MNT_FDT_03"): (39.6900, -4.0300),
}


def _review_field() -> Clusters:
    points = true_points(FIELD)
    field: Clusters = {}
    for cluster, (region, x, y, spots) in FIELD.items():
        more = [(v, *points[(cluster, true)]) for (c, v), true in VARIANTS.items() if c == cluster]
        more += [(name, px, py) for (c, name), (px, py) in CABINETS.items() if c == cluster]
        field[cluster] = (region, x, y, spots + tuple(more))
    return field


# Field names the map spells otherwise (with an apostrophe).
MAP_SPELLING = {("Nairobi West", "Kangemi"): "Kang'emi"}
# How prominent each instance of an ambiguous name is (the rest: 0.30); Nairobi's usually wins.
PROMINENCE = {
    ("Milimani", "Nairobi"): 0.40,
    ("Milimani", "Kisumu"): 0.32,
    ("Makongeni", "Nairobi"): 0.38,
    ("Majengo", "Nairobi"): 0.38,
    ("Huruma", "Nairobi"): 0.38,
    ("Shauri Moyo", "Nairobi"): 0.35,
    ("Old Town", "Mombasa"): 0.42,
    ("Bondeni", "Mombasa"): 0.32,
    ("Mjini", "Lamu"): 0.32,
    ("Manyatta", "Kisumu"): 0.33,
}
# Places outside the field: the other instances of ambiguous names, and outside Kenya.
_ELSEWHERE = (
    Feature("Ruaka", "suburb", 36.7780, -1.2080, ("Kiambu County", "Kenya"), 0.35),
    Feature("Manyatta", "suburb", 37.4700, -0.5250, ("Embu", "Embu County", "Kenya"), 0.30),
    Feature("Mjini", "suburb", 38.0130, -1.3680, ("Kitui", "Kitui County", "Kenya"), 0.27),
    Feature("Majengo", "suburb", 35.7400, -6.1700, ("Dodoma", "Tanzania"), 0.45, "tz"),
    Feature("Milimani", "suburb", 39.2700, -6.7800, ("Dar es Salaam", "Tanzania"), 0.45, "tz"),
)
# Nairobi's radial roads, named after the towns they lead to, where they pass near the clusters.
ROADS = (
    Feature("Ngong Road", "primary", 36.7880, -1.3040, ("Kilimani", "Nairobi", "Nairobi County", "Kenya"), 0.30),
    Feature("Thika Road", "trunk", 36.8850, -1.2200, ("Roysambu", "Nairobi", "Nairobi County", "Kenya"), 0.30),
    Feature("Mombasa Road", "trunk", 36.8400, -1.3150, ("South B", "Nairobi", "Nairobi County", "Kenya"), 0.30),
    Feature("Kiambu Road", "primary", 36.8370, -1.2350, ("Muthaiga", "Nairobi", "Nairobi County", "Kenya"), 0.25),
    Feature("Limuru Road", "primary", 36.8150, -1.2550, ("Parklands", "Nairobi", "Nairobi County", "Kenya"), 0.25),
)


def field_town(cluster: str) -> str:
    return CLUSTER_TOWN.get(cluster, cluster)


def build_world(clusters: Clusters = FIELD) -> list[Feature]:
    """The map: Kenya, its counties, the towns, the clusters' own names, every mapped field place
    (a field place that is a town is that town), the roads."""
    world = [Feature("Kenya", "country", 37.9062, 0.0236, (), 0.90)]
    world += [Feature(name, "county", x, y, ("Kenya",), imp) for name, (x, y, imp) in COUNTIES.items()]
    world += [Feature(t, kind, x, y, (county, "Kenya"), imp) for t, (kind, x, y, county, imp) in TOWNS.items()]
    seen: set[tuple[str, str]] = set()
    for cluster, (_, x, y, spots) in clusters.items():
        town = field_town(cluster)
        county = TOWNS[town][3]
        if cluster != town:
            world.append(Feature(cluster, "suburb", x, y, (town, county, "Kenya"), 0.40))
        for name, px, py in spots:
            if (cluster, name) in UNMAPPED or (town, name) in seen or name in TOWNS:
                continue
            seen.add((town, name))
            importance = PROMINENCE.get((name, town), 0.30)
            spelled = MAP_SPELLING.get((cluster, name), name)
            world.append(Feature(spelled, "suburb", px, py, (town, county, "Kenya"), importance))
    return world + list(_ELSEWHERE) + list(ROADS)


def _box(text: str) -> tuple[float, float, float, float] | None:
    """`x1,y1,x2,y2` in any corner order -> (west, south, east, north)."""
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        return None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _inside(f: Feature, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= f.lng <= box[2] and box[1] <= f.lat <= box[3]


def _limit(text: str | None, default: int, most: int) -> int:
    return min(max(int(text), 1), most) if text and text.isdigit() else default


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up: nothing to report


@dataclass
class Hit:
    at: float
    path: str
    params: dict[str, str]


@dataclass
class DevGeocoder:
    """`with DevGeocoder() as g:` serves at g.url; `key` (if set) is the only key accepted."""

    key: str | None = None
    world: list[Feature] = field(default_factory=build_world)
    script: list[tuple[int, object]] = field(default_factory=list)
    delay_s: float = 0.0
    down_after: int | None = None
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, body = outer.answer(url.path, params)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # quiet: the query string carries the key
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.lock = threading.Lock()

    def __enter__(self) -> DevGeocoder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def requests(self) -> int:
        return len(self.hits)

    def queries(self) -> list[str]:
        return [h.params.get("q", "") for h in self.hits]

    def forget(self, name: str) -> None:
        """Take every place of that name off the map."""
        self.world[:] = [f for f in self.world if f.name != name]

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, object]:
        with self.lock:
            self.hits.append(Hit(time.monotonic(), path, params))
            scripted = self.script.pop(0) if self.script else None
            going_down = len(self.hits) == self.down_after
        if going_down:  # stop listening before this answer goes out: the next connect is refused
            self.__exit__()
        if path == "/v1/search":
            if self.key is not None and params.get("key") != self.key:
                return 401, {"error": "Invalid key"}
            return scripted or self.locationiq(params)
        if path == "/geocode/v1/json":
            if self.key is not None and params.get("key") != self.key:
                return 401, {"status": {"code": 401, "message": "invalid API key"}, "results": []}
            return scripted or self.opencage(params)
        return 404, {"error": "not found"}

    def search(
        self,
        query: str,
        *,
        country: str | None,
        drop_context: bool,
        box: tuple[float, float, float, float] | None,
        near: tuple[float, float] | None = None,
    ) -> list[Feature]:
        """Matching features, best first: more context matched, then nearest `near` (lng, lat) if
        given, else most prominent."""
        found: list[tuple[tuple[float, ...], Feature]] = []
        for f in self.world:
            matched = f.match(query, drop_context)
            if matched is None or (country and f.country not in country.split(",")) or (box and not _inside(f, box)):
                continue
            rank = distance_km(near[0], near[1], f.lng, f.lat) if near else -f.importance
            found.append(((-matched, rank), f))
        return [f for _, f in sorted(found, key=lambda pair: pair[0])]

    def locationiq(self, params: dict[str, str]) -> tuple[int, object]:
        box = _box(params.get("viewbox", ""))
        found = self.search(
            params.get("q", ""),
            country=params.get("countrycodes"),
            drop_context=False,
            box=box if params.get("bounded") == "1" else None,
        )
        if box and params.get("bounded") != "1":  # a viewbox alone prefers, not restricts
            found.sort(key=lambda f: not _inside(f, box))
        found = found[: _limit(params.get("limit"), 10, 50)]
        if not found:
            return 404, {"error": "Unable to geocode"}
        return 200, [
            {
                "lat": f"{f.lat:.7f}",
                "lon": f"{f.lng:.7f}",
                "display_name": f.display_name,
                "class": "boundary" if f.admin else "highway" if f.road else "place",
                "type": "administrative" if f.admin else f.kind,
                "importance": f.importance,
            }
            for f in found
        ]

    def opencage(self, params: dict[str, str]) -> tuple[int, object]:
        near = None
        if "proximity" in params:
            try:
                lat, lng = (float(v) for v in params["proximity"].split(","))
                near = (lng, lat)
            except ValueError:
                return 400, {"status": {"code": 400, "message": "invalid proximity"}, "results": []}
        found = self.search(
            params.get("q", ""),
            country=params.get("countrycode"),
            drop_context=True,
            box=_box(params["bounds"]) if "bounds" in params else None,
            near=near,
        )[: _limit(params.get("limit"), 10, 100)]
        results = [
            {
                "geometry": {"lat": f.lat, "lng": f.lng},
                "formatted": f.display_name,
                "components": {"_type": kind, kind: f.name, "country_code": f.country},
                "confidence": 1 if f.admin else 7,
            }
            for f, kind in ((f, "road" if f.road else f.kind) for f in found)
        ]
        return 200, {"results": results, "status": {"code": 200, "message": "OK"}, "total_results": len(results)}


def true_points(clusters: Clusters = FIELD) -> dict[tuple[str, str], tuple[float, float]]:
    """(cluster, place) -> where the place really is (mapped or not): the benchmark's ground truth."""
    return {(c, name): (x, y) for c, (_, _, _, spots) in clusters.items() for name, x, y in spots}


def ambiguous_names(world: Iterable[Feature]) -> set[str]:
    """Place names that more than one town in Kenya has."""
    towns: dict[str, set[str]] = {}
    for f in world:
        if not f.admin and f.country == "ke" and f.chain:
            towns.setdefault(f.name, set()).add(f.chain[0])
    return {name for name, where in towns.items() if len(where) > 1}


REVIEW_FIELD: Clusters = _review_field()  # not on the map (build_world(FIELD)): only in the feed
