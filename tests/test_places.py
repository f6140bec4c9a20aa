"""Geocoding's pure rules: code stripping, query keys, distance, the Kenya box."""

from __future__ import annotations

import pytest

from fleettickets.geocode.places import (
    cluster_query,
    distance_km,
    in_kenya,
    location_query,
    normalise,
    strip_codes,
)


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


def test_spellings_of_one_place_make_one_query_key():
    spellings = ["NW_Kileleshwa_FDT_03", "ADR_MNT_KILELESHWA SDUS3", "Kileleshwa  FDT7", "kileleshwa"]
    keys = {normalise(location_query(strip_codes(s), "Nairobi West")) for s in spellings}
    assert keys == {"kileleshwa, nairobi west, kenya"}


def test_queries_carry_context():
    assert location_query("Milimani", "Kisumu") == "Milimani, Kisumu, Kenya"
    assert cluster_query("Nairobi West") == "Nairobi West, Kenya"


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
