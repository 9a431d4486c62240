"""The hospital id every service derives from a name (issue 10: one typo made a new tenant)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from specimen_kit.hospitals import (
    MAX_HOSPITAL_ID_CHARS,
    InvalidHospitalName,
    hospital_name,
    hospital_slug,
)


class TestHospitalSlug:
    @pytest.mark.parametrize(("name", "slug"), [
        ("Newcomer Clinic", "newcomer-clinic"),
        ("newcomer clinic ", "newcomer-clinic"),
        ("  NEWCOMER   CLINIC", "newcomer-clinic"),
        ("Saint-Luc", "saint-luc"),
        ("Saint_Luc", "saint-luc"),
        ("--Saint -- Luc!!", "saint-luc"),
        ("Hôpital Saint-Luc", "hôpital-saint-luc"),
        ("Straße 5", "strasse-5"),
        ("\uff27\uff25\uff2e", "gen"),  # full-width forms fold to ASCII (NFKC)
        ("ΑΧΕΠΑ", "αχεπα"),
        ("東京病院", "東京病院"),
        ("नई दिल्ली", "नई-दिल्ली"),  # vowel signs are marks and stay in their word
    ])
    def test_names_give_their_id(self, name: str, slug: str) -> None:
        assert hospital_slug(name) == slug

    @pytest.mark.parametrize("name", ["", "   ", "--", "!!!", "\x00\t"])
    def test_a_name_without_letters_or_digits_is_refused(self, name: str) -> None:
        with pytest.raises(InvalidHospitalName, match="no letter or digit"):
            hospital_slug(name)

    def test_a_slug_longer_than_the_limit_is_refused(self) -> None:
        # 61 "ß" are 61 characters but fold to 122.
        with pytest.raises(InvalidHospitalName, match=str(MAX_HOSPITAL_ID_CHARS)):
            hospital_slug("ß" * 61)

    @given(st.text(max_size=60))
    def test_is_idempotent(self, name: str) -> None:
        try:
            once = hospital_slug(name)
        except InvalidHospitalName:
            return
        assert hospital_slug(once) == once


class TestHospitalName:
    def test_is_trimmed(self) -> None:
        assert hospital_name("  Newcomer Clinic ") == "Newcomer Clinic"

    @pytest.mark.parametrize("name", ["", "  ", "x" * 121, "General\x07", "***"])
    def test_bad_names_are_refused(self, name: str) -> None:
        with pytest.raises(InvalidHospitalName):
            hospital_name(name)
