"""Geocoding's rules (fleettickets.geocode.places): code stripping, labels and their keys, the box,
junk numbers, the choosers, distance, the Kenya box, name matching, the far rule as the database
applies it; and the stand-in provider's matching, which the tests rely on being strict."""

from __future__ import annotations

import math

import psycopg
import pytest

from devtools.geocoder import DevGeocoder, Feature, build_world
from fleettickets.geocode.places import (
    MATCH_SIMILARITY,
    Candidate,
    Known,
    Label,
    box_around,
    choose_cluster,
    choose_location,
    choose_match,
    coordinate,
    distance_km,
    in_kenya,
    location_key,
    match_forms,
    names_place,
    read_label,
    strip_codes,
    words,
)
from fleettickets.geocode.run import _needs_asking, _reask, group_locations
from tests.helpers import add_cluster, insert_ticket


@pytest.fixture(scope="module")
def trigram(shared_db_url):
    """pg_trgm's similarity, as the geocoding run gets it (migration 30 created the extension)."""
    with psycopg.connect(shared_db_url) as c:
        yield lambda a, b: c.execute("SELECT similarity(%s, %s)", (a, b)).fetchone()[0]


@pytest.mark.parametrize(
    ("name", "place"),
    [
        ("ADR_MNT_Kileleshwa SDUS3", "Kileleshwa"),  # CONTRACT examples
        ("NW_Ruaka Town_FDT_07", "Ruaka Town"),
        ("NW_Karen SDUS 4", "Karen"),
        ("Kilimani FDT12", "Kilimani"),
        ("Kilimani FDT_12", "Kilimani"),
        ("Kilimani FDT", "Kilimani"),
        ("Lavington_FDT_03", "Lavington"),
        ("ADR_MNT_Donholm", "Donholm"),
        ("NW_Buruburu", "Buruburu"),
        ("Umoja SDUS", "Umoja"),
        ("NW_Kileleshwa_07", "Kileleshwa"),  # digits hung on by an underscore
        ("Kileleshwa_", "Kileleshwa"),  # stray underscore
        ("_Kileleshwa__FDT__2_", "Kileleshwa"),
        ("Section 58_FDT_07", "Section 58"),  # digits that are part of the name stay
        ("NW_Section 9 SDUS 2", "Section 9"),
        ("Lang'ata FDT5", "Lang'ata"),
        ("Ruring'u_FDT_11", "Ruring'u"),
        ("  NW_Elgon View   SDUS 12 ", "Elgon View"),
        ("nw_kasarani fdt_3", "kasarani"),  # codes in any case
        ("NW_Nwanda", "Nwanda"),  # a code inside a word is not a code
        ("FDTown Centre", "FDTown Centre"),
        ("07 Kayole", "Kayole"),  # a leading number is no place word
        ("NW_", ""),  # nothing but codes: no query
        ("FDT_12", ""),
        ("ADR_MNT_ SDUS 3", ""),
        ("", ""),
    ],
)
def test_strip_codes(name, place):
    assert strip_codes(name) == place


def test_spellings_of_one_place_make_one_key():
    spellings = ["NW_Kileleshwa_FDT_03", "ADR_MNT_KILELESHWA SDUS3", "Kileleshwa  FDT7", "kileleshwa"]
    keys = {read_label(s, "Nairobi West").key for s in spellings}
    assert keys == {"kileleshwa, nairobi west, kenya"}  # the key of the first strategy, kept


@pytest.mark.parametrize(
    ("name", "cluster", "label"),
    [
        ("NW_Kileleshwa_FDT_03", "Nairobi West", Label("kileleshwa, nairobi west, kenya", "Kileleshwa", False)),
        ("ADR_MNT_KILELESHWA SDUS3", "Nairobi West", Label("kileleshwa, nairobi west, kenya", "KILELESHWA", False)),
        # what is asked is the place words alone: the cluster would make a Nominatim search find nothing
        ("NW_Ruaka Town_FDT_07", "Kiambu", Label("ruaka town, kiambu, kenya", "Ruaka Town", False)),
        ("Lang'ata FDT5", "Nairobi  West", Label("lang'ata, nairobi west, kenya", "Lang'ata", False)),
        ("  NW_Elgon View   SDUS 12 ", "Eldoret", Label("elgon view, eldoret, kenya", "Elgon View", False)),
        ("Section 58_FDT_07", "Nakuru", Label("section 58, nakuru, kenya", "Section 58", False)),
        # nothing but codes: an entry of its own, keyed by the whole label, never asked
        ("NW_FDT_07", "Nairobi West", Label("nw_fdt_07, nairobi west, kenya", "nw_fdt_07", True)),
        ("FDT_12", "Kisumu", Label("fdt_12, kisumu, kenya", "fdt_12", True)),
        ("ADR_MNT_ SDUS 3", "Kisumu", Label("adr_mnt_ sdus 3, kisumu, kenya", "adr_mnt_ sdus 3", True)),
    ],
)
def test_read_label(name, cluster, label):
    assert read_label(name, cluster) == label


def test_a_run_groups_labels_by_the_one_label_rule():
    rows = [
        ("NW_Kileleshwa_FDT_03", "Nairobi West", 2),
        ("Kileleshwa FDT7", "Nairobi West", 1),
        ("NW_Kileleshwa", "Kisumu", 1),  # another cluster, another place
        ("NW_FDT_07", "Nairobi West", 4),
        ("nw_fdt_07", "Nairobi West", 1),
    ]
    groups, codes = group_locations(rows)
    assert [(g.key, g.place, g.names, g.tickets) for g in groups.values()] == [
        ("kileleshwa, nairobi west, kenya", "Kileleshwa", ["NW_Kileleshwa_FDT_03", "Kileleshwa FDT7"], 3),
        ("kileleshwa, kisumu, kenya", "Kileleshwa", ["NW_Kileleshwa"], 1),
    ]
    assert [(g.key, g.place, g.names, g.tickets) for g in codes.values()] == [
        ("nw_fdt_07, nairobi west, kenya", "nw_fdt_07", ["NW_FDT_07", "nw_fdt_07"], 5),
    ]


def test_apostrophes_fold_for_comparing_but_keys_keep_their_spelling():
    assert words("Lang'ata") == words("Lang\u2019ata") == words("LANGATA") == ["langata"]
    assert words("Ruring'u, Nyeri") == ["ruringu", "nyeri"]
    # cached entries stay found under the keys they were stored with
    assert location_key("Lang'ata", "Nairobi West") == "lang'ata, nairobi west, kenya"


@pytest.mark.parametrize(
    ("lng", "lat", "km", "box"),
    [
        (36.08, -0.303, 25, (35.8552, -0.5278, 36.3048, -0.0782)),  # Nakuru: ~0.225 degrees each way
        (35.27, 0.514, 10, (35.1801, 0.4241, 35.3599, 0.6039)),
        (0.0, 89.9, 25, (-22.483, 89.6752, 22.483, 90.0)),  # clamped at the pole
    ],
)
def test_box_around(lng, lat, km, box):
    assert tuple(round(v, 4) for v in box_around(lng, lat, km)) == box


def test_box_reaches_the_radius_along_each_axis():
    _, _, east, north = box_around(36.958, -1.476, 25)
    assert distance_km(36.958, -1.476, east, -1.476) == pytest.approx(25, abs=0.01)
    assert distance_km(36.958, -1.476, 36.958, north) == pytest.approx(25, abs=0.01)


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("-1.2921", 90, -1.2921),
        (36.8219, 180, 36.8219),
        ("0", 90, 0.0),
        (" 1.5 ", 90, 1.5),
        ("NaN", 90, None),
        (math.nan, 90, None),
        ("1e999", 180, None),  # parses as infinity
        ("-Infinity", 180, None),
        (math.inf, 180, None),
        ("90.0001", 90, None),
        ("-180.5", 180, None),
        ("-1,29", 90, None),
        ("", 90, None),
        (None, 90, None),
        (True, 90, None),
        ([1.0], 90, None),
    ],
)
def test_coordinate_refuses_junk(value, limit, expected):
    assert coordinate(value, limit) == expected


@pytest.mark.parametrize(
    ("display_name", "place", "names"),
    [
        ("Milimani, Nakuru, Nakuru County, Kenya", "Milimani", True),
        ("Ruaka, Kiambu County, Kenya", "Ruaka Town", False),  # 'Town' is not in the name
        ("Lang'ata, Nairobi, Kenya", "Lang'ata", True),
        ("Langata, Nairobi, Kenya", "Lang'ata", True),  # the map and the feed spell it two ways
        ("Lang'ata, Nairobi, Kenya", "Langata", True),
        ("Lang\u2019ata, Nairobi, Kenya", "Lang'ata", True),  # a typographic apostrophe
        ("Kang'emi, Nairobi, Kenya", "Kangemi", True),
        ("Lang, Nairobi, Kenya", "Lang'ata", False),
        ("Elgon View, Eldoret, Kenya", "elgon view", True),
        ("Kileleshwa, Nairobi, Kenya", "Nairobi", False),  # only in the address chain
        ("Section 58, Nakuru, Kenya", "Section 58", True),
        ("", "Karen", False),
    ],
)
def test_names_place(display_name, place, names):
    assert names_place(Candidate(0, 0, display_name), place) is names


NAKURU = (36.08, -0.303)
NAKURU_MILIMANI = Candidate(36.074, -0.293, "Milimani, Nakuru, Nakuru County, Kenya")
NAIROBI_MILIMANI = Candidate(36.8005, -1.2905, "Milimani, Nairobi, Nairobi County, Kenya")
NAKURU_COUNTY = Candidate(36.08, -0.50, "Nakuru County, Kenya", "boundary/administrative")
MILIMANI_ROAD_FAR = Candidate(36.30, -0.52, "Milimani, Nakuru County, Kenya")  # 34.4 km off


@pytest.mark.parametrize(
    ("candidates", "status", "chosen", "detail"),
    [
        ([], "not_found", None, None),
        ([NAIROBI_MILIMANI, NAKURU_MILIMANI], "ok", NAKURU_MILIMANI, None),  # nearest, not the most prominent
        ([NAKURU_COUNTY, NAKURU_MILIMANI], "ok", NAKURU_MILIMANI, None),
        ([NAKURU_COUNTY], "not_found", None, "1 candidate(s), none a place named 'Milimani'"),
        (
            [Candidate(36.08, -0.30, "Lanet, Nakuru, Kenya")],
            "not_found",
            None,
            "1 candidate(s), none a place named 'Milimani'",
        ),
        (
            [NAIROBI_MILIMANI, MILIMANI_ROAD_FAR],
            "rejected",
            None,
            "nearest of 2 candidate(s) 34.4 km from the Nakuru point (guard 25 km)",
        ),
    ],
)
def test_choose_location(candidates, status, chosen, detail):
    choice = choose_location(candidates, "Milimani", NAKURU, "Nakuru", 25.0)
    assert (choice.status, choice.candidate, choice.detail) == (status, chosen, detail)
    if status == "rejected":
        assert choice.distance_km == pytest.approx(34.4, abs=0.05)
    if status == "ok":
        assert choice.distance_km == pytest.approx(distance_km(*NAKURU, chosen.lng, chosen.lat))


NAIROBI_WEST = (36.78, -1.31)
NGONG_TOWN = Candidate(36.652, -1.361, "Ngong, Kajiado County, Kenya", "place/town")
NGONG_ROAD = Candidate(36.788, -1.304, "Ngong Road, Kilimani, Nairobi, Nairobi County, Kenya", "highway/primary")
NGONG_ROAD_OC = Candidate(36.788, -1.304, "Ngong Road, Kilimani, Nairobi, Kenya", "road")  # OpenCage _type
NGONG_RACECOURSE = Candidate(36.7460, -1.3040, "Ngong Racecourse, Nairobi, Kenya", "leisure/track")
NGONG_TOWN_OC = Candidate(36.652, -1.361, "Ngong, Kajiado County, Kenya", "town")
NGONG_SHOP = Candidate(36.660, -1.358, "Ngong, Kajiado County, Kenya", "shop/supermarket")


@pytest.mark.parametrize(
    ("candidates", "status", "chosen"),
    [
        ([NGONG_ROAD, NGONG_TOWN], "ok", NGONG_TOWN),  # the road is 1 km off, the town 15 km: a road is no place
        ([NGONG_ROAD_OC, NGONG_TOWN_OC], "ok", NGONG_TOWN_OC),
        ([NGONG_RACECOURSE, NGONG_TOWN], "ok", NGONG_TOWN),  # a settlement before anything else named so
        ([NGONG_SHOP, NGONG_TOWN], "ok", NGONG_TOWN),
        ([NGONG_SHOP, NGONG_RACECOURSE], "ok", NGONG_RACECOURSE),  # no settlement: the nearest of the rest
        ([NGONG_ROAD], "not_found", None),
        ([NGONG_ROAD_OC], "not_found", None),
    ],
)
def test_choose_location_takes_no_road_and_settlements_first(candidates, status, chosen):
    choice = choose_location(candidates, "Ngong", NAIROBI_WEST, "Nairobi West", 25.0)
    assert (choice.status, choice.candidate) == (status, chosen)


def test_choose_location_a_settlement_beyond_the_guard_does_not_hide_a_near_candidate():
    far_town = Candidate(36.652, -1.561, "Ngong, Kajiado County, Kenya", "place/town")  # 31 km off
    assert choose_location([far_town, NGONG_SHOP], "Ngong", NAIROBI_WEST, "Nairobi West", 25.0).candidate == NGONG_SHOP


def test_choose_location_guard_is_inclusive_and_configurable():
    at_10km = Candidate(36.08, -0.303 + 10 / 111.195, "Milimani, Nakuru")
    assert choose_location([at_10km], "Milimani", NAKURU, "Nakuru", 10.01).status == "ok"
    assert choose_location([at_10km], "Milimani", NAKURU, "Nakuru", 9.99).status == "rejected"


NAKURU_CITY = Candidate(36.08, -0.303, "Nakuru, Nakuru County, Kenya")
NAKURU_ROAD = Candidate(36.82, -1.28, "Nakuru Road, Nairobi, Kenya", "highway/trunk")  # 150 km from Nakuru
KAMPALA = Candidate(32.58, 0.35, "Kampala, Uganda")


@pytest.mark.parametrize(
    ("candidates", "status", "chosen", "detail"),
    [
        ([], "not_found", None, None),
        ([NAKURU_COUNTY, NAKURU_CITY], "ok", NAKURU_CITY, None),  # the town, not the county's centroid
        ([NAKURU_CITY, NAKURU_COUNTY], "ok", NAKURU_CITY, None),
        ([NAKURU_ROAD, NAKURU_CITY], "ok", NAKURU_CITY, None),  # a road named after the town is not the town
        (
            [NAKURU_ROAD, NAKURU_COUNTY],
            "ok",
            NAKURU_COUNTY,
            "an administrative area (boundary/administrative): no place of that name came back",
        ),
        ([NAKURU_ROAD], "not_found", None, "1 candidate(s), only roads"),
        (
            [NAKURU_COUNTY],
            "ok",
            NAKURU_COUNTY,
            "an administrative area (boundary/administrative): no place of that name came back",
        ),
        ([KAMPALA, NAKURU_CITY], "ok", NAKURU_CITY, None),
        ([KAMPALA], "rejected", None, "outside Kenya (0.3500, 32.5800)"),
    ],
)
def test_choose_cluster(candidates, status, chosen, detail):
    choice = choose_cluster(candidates)
    assert (choice.status, choice.candidate, choice.detail) == (status, chosen, detail)


# -- the stand-in: as strict as Nominatim ------------------------------------------------------------

STAND_IN = DevGeocoder(world=build_world())


@pytest.mark.parametrize(
    ("query", "drop_context", "found"),
    [
        ("Kileleshwa", False, ["Kileleshwa, Nairobi, Nairobi County, Kenya"]),
        ("Kileleshwa, Nairobi, Kenya", False, ["Kileleshwa, Nairobi, Nairobi County, Kenya"]),
        ("Kileleshwa, Nairobi West, Kenya", False, []),  # 'West' is not in Kileleshwa's address
        ("Kileleshwa, Kilimani, Kenya", False, []),
        ("Kileleshwa, Nairobi West, Kenya", True, ["Kileleshwa, Nairobi, Nairobi County, Kenya"]),  # OpenCage
        ("Ruaka Town", False, []),  # the map says Ruaka
        ("Ruaka Town", True, []),
        ("Nakuru", False, ["Nakuru County, Kenya", "Nakuru, Nakuru County, Kenya"]),  # the county outranks
        ("Milimani, Nakuru, Kenya", False, ["Milimani, Nakuru, Nakuru County, Kenya"]),
        ("Nairobi West, Kenya", False, ["Nairobi West, Nairobi, Nairobi County, Kenya"]),
        ("Langata", False, ["Lang'ata, Nairobi, Nairobi County, Kenya"]),  # found however it is spelled
        ("Kangemi", False, ["Kang'emi, Nairobi, Nairobi County, Kenya"]),  # the map's spelling
        ("Ngong", False, ["Ngong, Kajiado County, Kenya", "Ngong Road, Kilimani, Nairobi, Nairobi County, Kenya"]),
        ("Thika", False, ["Thika, Kiambu County, Kenya", "Thika Road, Roysambu, Nairobi, Nairobi County, Kenya"]),
    ],
)
def test_stand_in_matches_every_word(query, drop_context, found):
    got = STAND_IN.search(query, country="ke", drop_context=drop_context, box=None)
    assert [f.display_name for f in got] == found


@pytest.mark.parametrize(
    ("name", "towns"),
    [
        ("Milimani", ["Nairobi", "Kisumu", "Nakuru", "Kakamega", "Kitale", "Kitengela"]),  # most prominent first
        ("Makongeni", ["Nairobi", "Thika"]),
        ("Bondeni", ["Mombasa", "Nakuru"]),
        ("Majengo", ["Nairobi", "Mombasa", "Nyeri"]),
        ("Huruma", ["Nairobi", "Eldoret"]),
        ("Manyatta", ["Kisumu", "Embu"]),
        ("Shauri Moyo", ["Nairobi", "Kisumu"]),
        ("Mjini", ["Lamu", "Machakos", "Kitui"]),
        ("Old Town", ["Mombasa", "Lamu"]),
    ],
)
def test_stand_in_ambiguous_names_most_prominent_first(name, towns):
    got = STAND_IN.search(name, country="ke", drop_context=False, box=None)
    assert [f.chain[0] for f in got] == towns


def test_stand_in_country_box_and_proximity():
    everywhere = STAND_IN.search("Majengo", country=None, drop_context=False, box=None)
    assert "Dodoma" in [f.chain[0] for f in everywhere]  # countrycodes=ke keeps it out
    boxed = STAND_IN.search("Milimani", country="ke", drop_context=False, box=box_around(*NAKURU, 25))
    assert [f.chain[0] for f in boxed] == ["Nakuru"]
    near = STAND_IN.search("Milimani", country="ke", drop_context=True, box=None, near=(34.752, 0.283))
    assert [f.chain[0] for f in near][:2] == ["Kakamega", "Kisumu"]


@pytest.mark.parametrize(
    ("path", "params", "status", "first"),
    [
        ("/v1/search", {"q": "Kileleshwa, Nairobi West, Kenya"}, 404, {"error": "Unable to geocode"}),
        ("/v1/search", {"q": "Nakuru", "limit": "1"}, 200, {"class": "boundary", "type": "administrative"}),
        (
            "/v1/search",
            {"q": "Milimani", "limit": "1", "countrycodes": "ke"},
            200,
            {"display_name": "Milimani, Nairobi, Nairobi County, Kenya"},
        ),
        (
            "/v1/search",
            {"q": "Milimani", "viewbox": "35.855,-0.528,36.305,-0.078", "bounded": "1"},
            200,
            {"lat": "-0.2930000", "lon": "36.0740000", "class": "place", "type": "suburb"},
        ),
        ("/v1/search", {"q": "Milimani", "viewbox": "35.855,-0.528,36.305,-0.078"}, 200, {"lat": "-0.2930000"}),
        (
            "/geocode/v1/json",
            {"q": "Nakuru", "limit": "1"},
            200,
            {"components": {"_type": "county", "county": "Nakuru County", "country_code": "ke"}},
        ),
        (
            "/geocode/v1/json",
            {"q": "Milimani", "bounds": "35.855,-0.528,36.305,-0.078"},
            200,
            {"geometry": {"lat": -0.293, "lng": 36.074}},
        ),
        ("/geocode/v1/json", {"q": "Ruaka Town"}, 200, None),
        ("/v1/search", {"q": "Thika Road"}, 200, {"class": "highway", "type": "trunk"}),
        (
            "/geocode/v1/json",
            {"q": "Ngong Road"},
            200,
            {"components": {"_type": "road", "road": "Ngong Road", "country_code": "ke"}},
        ),
    ],
)
def test_stand_in_answers_in_the_providers_formats(path, params, status, first):
    got_status, body = STAND_IN.answer(path, params)
    assert got_status == status
    if path == "/v1/search" and status == 404:
        assert body == first
    elif path == "/v1/search":
        assert first.items() <= body[0].items()
    else:
        assert body["status"] == {"code": 200, "message": "OK"}
        assert body["results"] == [] if first is None else first.items() <= body["results"][0].items()


def test_stand_in_limit_and_key():
    _, body = STAND_IN.answer("/v1/search", {"q": "Milimani", "limit": "2"})
    assert len(body) == 2
    keyed = DevGeocoder(key="k", world=[Feature("Karen", "suburb", 36.712, -1.319, ("Nairobi", "Kenya"), 0.3)])
    assert keyed.answer("/v1/search", {"q": "Karen", "key": "bad"}) == (401, {"error": "Invalid key"})
    assert keyed.answer("/geocode/v1/json", {"q": "Karen", "key": "k"})[0] == 200


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        ((36.8219, -1.2921), (36.8219, -1.2921), 0.0),
        ((36.8219, -1.2921), (39.6682, -4.0435), 440.0),  # Nairobi - Mombasa
        ((34.7680, -0.0920), (36.0800, -0.3030), 148.0),  # Kisumu - Nakuru
        ((0.0, 0.0), (1.0, 0.0), 111.2),
    ],
)
def test_distance_km(a, b, km):
    assert distance_km(*a, *b) == pytest.approx(km, abs=1.5)


@pytest.mark.parametrize(
    ("lng", "lat", "inside"),
    [
        (36.82, -1.29, True),
        (39.67, -4.04, True),
        (35.27, 0.51, True),
        (32.58, 0.35, False),
        (-0.13, 51.5, False),
        (36.82, 1.29 + 5, False),
    ],
)
def test_in_kenya(lng, lat, inside):
    assert in_kenya(lng, lat) is inside


@pytest.mark.parametrize(
    ("kind", "admin"),
    [
        ("place/suburb", False),
        ("place/city", False),
        ("boundary/administrative", True),  # LocationIQ
        ("boundary/protected_area", True),
        ("county", True),  # OpenCage components._type
        ("state", True),
        ("country", True),
        ("neighbourhood", False),
        ("", False),
    ],
)
def test_administrative_kinds(kind, admin):
    assert Candidate(0, 0, "x", kind).admin is admin


@pytest.mark.parametrize(
    ("cached", "retry_failed", "ask", "reask"),
    [
        (None, False, True, False),  # never asked
        (("ok", False, 2), False, False, False),
        (("ok", False, 2), True, False, False),
        (("not_found", False, 2), False, False, False),
        (("not_found", False, 2), True, True, False),
        (("rejected", False, 2), True, False, False),  # the guard's verdict stands
        (("error", False, 2), False, True, False),  # never final
        (("ok", False, 1), False, True, True),  # decided by the old strategy: once more
        (("rejected", False, 1), False, True, True),
        (("not_found", False, 1), False, True, True),
        (("error", False, 1), False, True, False),  # asked anyway, as an error
        (("ok", True, 1), True, False, False),  # verified: never
        (("error", True, 2), True, False, False),
    ],
)
def test_which_cache_entries_are_asked(cached, retry_failed, ask, reask):
    assert _needs_asking(cached, retry_failed) is ask
    assert _reask(cached) is reask


@pytest.mark.parametrize(
    ("place", "forms"),
    [
        ("Kileleswa", ["kileleswa"]),
        ("Tassia 2", ["tassia 2", "tassia"]),
        ("Nyalenda B", ["nyalenda b", "nyalenda"]),
        ("Ruaka  Town", ["ruaka town", "ruaka"]),
        ("Kitengela Mall", ["kitengela mall", "kitengela"]),
        ("Lang'ata", ["langata"]),
        ("Town", ["town"]),  # a word must be left
        ("Section 58", ["section 58", "section"]),
    ],
)
def test_match_forms(place, forms):
    assert match_forms(place) == forms


@pytest.mark.parametrize(
    ("place", "known", "reused"),
    [
        ("Kileleswa", ["Kileleshwa", "Kilimani", "Lavington"], "Kileleshwa"),  # a letter dropped
        ("Roysambo", ["Roysambu", "Runda", "Kasarani"], "Roysambu"),
        ("Buru Buru", ["Buruburu", "Donholm"], "Buruburu"),
        ("Lavingtone", ["Lavington", "Kilimani"], "Lavington"),
        ("Zimerman", ["Zimmerman", "Roysambu"], "Zimmerman"),
        ("Tassia 2", ["Tassia", "Umoja"], "Tassia"),  # trailing number, letter, word
        ("Nyalenda B", ["Nyalenda", "Milimani"], "Nyalenda"),
        ("Ruaka Town", ["Ruaka", "Runda"], "Ruaka"),
        ("Kasarani Mall", ["Kasarani", "Roysambu"], "Kasarani"),
        ("Lang'ata Town", ["Langata"], "Langata"),
        ("Kilimani", ["Milimani"], None),  # one letter apart, and two places
        ("Section 5", ["Section 58"], None),  # numbers tell places apart
        ("Section 9", ["Section 58"], None),
        ("South B", ["South C"], None),  # and so do letters
        ("Kwa Reuben", ["Kileleshwa", "Karen"], None),  # nothing like it
        ("Kariobangi", ["Kariobangi North", "Kariobangi South"], None),  # two equally close
        ("Makongeni", [], None),
    ],
)
def test_choose_match(trigram, place, known, reused):
    got = choose_match(place, [Known(f"k{i}", k) for i, k in enumerate(known)], trigram)
    assert (got.known.place if got else None) == reused
    if got:
        assert got.detail.startswith(f"match of {reused!r} (similarity ")


def test_the_database_scores_same_cluster_pairs_that_can_be_chosen_only(conn):
    got = conn.execute(
        "SELECT name, known, similarity FROM tickets.name_similarity(%s, %s, %s, %s, %s)",
        (
            ["Nairobi West", "Kisumu"],
            ["kileleswa", "lavingtone"],
            ["Nairobi West", "Nairobi West", "Kisumu"],
            ["kileleshwa", "lavington", "kilimani"],
            MATCH_SIMILARITY,
        ),
    ).fetchall()
    # not `lavingtone` -> `lavington` (another cluster's), nor the pairs under MATCH_SIMILARITY
    assert [(n, k) for n, k, _ in got] == [("kileleswa", "kileleshwa")]
    assert got[0][2] == conn.execute("SELECT similarity('kileleswa', 'kileleshwa')").fetchone()[0] >= MATCH_SIMILARITY


def test_a_reuse_is_saved_only_over_an_unverified_entry_from_a_resolved_place_of_its_cluster(conn):
    add_cluster(conn, "Reuseville", 36.80, -1.30)
    for key, cluster, status, verified in [
        ("known", "Reuseville", "ok", False),
        ("unresolved", "Reuseville", "not_found", False),
        ("elsewhere", "Otherville", "ok", False),
        ("takes", "Reuseville", "not_found", False),
        ("verified", "Reuseville", "not_found", True),
        ("from unresolved", "Reuseville", "rejected", False),
        ("from elsewhere", "Reuseville", "not_found", False),
    ]:
        conn.execute(
            "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, geom, verified)"
            " VALUES (%s, %s, %s, 'locationiq', %s,"
            " CASE WHEN %s = 'ok' THEN ST_SetSRID(ST_MakePoint(36.81, -1.29), 4326) END, %s)",
            (key, key, cluster, status, status, verified),
        )
    saved = conn.execute(
        "SELECT * FROM tickets.save_matches(%s, %s, %s)",
        (
            ["takes", "verified", "from unresolved", "from elsewhere"],
            ["known", "known", "unresolved", "elsewhere"],
            ["why 1", "why 2", "why 3", "why 4"],
        ),
    ).fetchall()
    assert saved == [("takes",)]
    rows = conn.execute(
        "SELECT query, status, provider, match_of, detail, ST_AsText(geom) FROM tickets.geo_locations"
        " WHERE query IN ('takes', 'verified', 'from unresolved', 'from elsewhere') ORDER BY query"
    ).fetchall()
    assert rows == [
        ("from elsewhere", "not_found", "locationiq", None, None, None),
        ("from unresolved", "rejected", "locationiq", None, None, None),
        ("takes", "ok", "match", "known", "why 1", "POINT(36.81 -1.29)"),
        ("verified", "not_found", "locationiq", None, None, None),
    ]


# -- the far rule, as the review queue applies it ----------------------------------------------------


FAR_KM = 10.0  # what the far rule says: more than 10 km from every other place of its cluster


@pytest.mark.parametrize(
    ("others_km", "provider", "far"),
    [
        ([FAR_KM + 0.01], "locationiq", True),  # holds the database's distance (tickets.far_km()) to 10 km
        ([FAR_KM - 0.01], "locationiq", False),
        ([FAR_KM + 5, FAR_KM - 0.01], "locationiq", False),  # one place near is enough
        ([FAR_KM + 5, FAR_KM + 8], "opencage", True),
        ([], "locationiq", False),  # nothing else resolved in the cluster: nothing to compare with
        ([FAR_KM + 5], "manual", False),  # a hand's placement is not second-guessed
    ],
)
def test_the_far_rule(conn, others_km, provider, far):
    add_cluster(conn, "Farville", 36.80, -1.30)
    point = "ST_SetSRID(ST_MakePoint(36.85, -1.28), 4326)"
    conn.execute(
        "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, geom)"
        f" VALUES ('judged, farville, kenya', 'Judged', 'Farville', %s, 'ok', {point})",
        (provider,),
    )
    for n, km in enumerate(others_km):  # due north, on the spheroid, as ST_DWithin measures
        conn.execute(
            "INSERT INTO tickets.geo_locations (query, place, cluster, provider, status, geom)"
            f" VALUES (%s, 'Other', 'Farville', 'locationiq', 'ok', ST_Project({point}::geography, %s, 0)::geometry)",
            (f"other {n}, farville, kenya", km * 1000),
        )
    conn.execute("SELECT tickets.add_location_names('judged, farville, kenya', 'Farville', ARRAY['Judged'])")
    insert_ticket(conn, "FAR1", cluster="Farville", location_name="Judged", is_actionable="true")
    reason = conn.execute("SELECT reason FROM tickets.review_queue WHERE key = 'judged, farville, kenya'").fetchone()
    assert reason == (("far",) if far else None)
