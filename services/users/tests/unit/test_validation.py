from __future__ import annotations

import pytest

from specimen_users.domain.errors import InvalidUserData, PasswordTooLong, WeakPassword
from specimen_users.domain.validation import (
    check_password,
    normalize_email,
    normalize_full_name,
)


class TestCheckPassword:
    def test_exactly_72_ascii_bytes_is_accepted(self) -> None:
        check_password("a" * 72)

    def test_73_ascii_bytes_is_refused_naming_the_limit(self) -> None:
        with pytest.raises(PasswordTooLong) as caught:
            check_password("a" * 73)
        assert caught.value.status == 422
        assert "72 bytes" in caught.value.detail
        assert caught.value.extensions == {"max_bytes": 72, "actual_bytes": 73}

    def test_36_two_byte_characters_fill_exactly_72_bytes(self) -> None:
        check_password("é" * 36)

    def test_37_two_byte_characters_are_74_bytes_and_refused(self) -> None:
        with pytest.raises(PasswordTooLong) as caught:
            check_password("é" * 37)
        assert caught.value.extensions["actual_bytes"] == 74

    def test_four_byte_emoji_count_as_four_bytes(self) -> None:
        check_password("🔬" * 18)  # 72 bytes, 18 characters
        with pytest.raises(PasswordTooLong):
            check_password("🔬" * 18 + "a")

    def test_seven_characters_are_too_short(self) -> None:
        with pytest.raises(WeakPassword) as caught:
            check_password("abcdefg")
        assert caught.value.status == 422

    def test_eight_characters_are_enough(self) -> None:
        check_password("abcdefgh")

    def test_nul_character_is_refused(self) -> None:
        with pytest.raises(WeakPassword):
            check_password("abcd\x00efgh")


class TestNormalization:
    def test_email_is_trimmed_and_lower_cased(self) -> None:
        assert normalize_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"

    def test_reserved_local_domain_is_an_email(self) -> None:
        assert normalize_email("admin@specimen.local") == "admin@specimen.local"

    @pytest.mark.parametrize("text", ["", "ada", "ada@", "@example.org", "a b@example.org",
                                      "ada@example"])
    def test_non_addresses_are_refused(self, text: str) -> None:
        with pytest.raises(InvalidUserData):
            normalize_email(text)

    def test_blank_full_name_is_refused(self) -> None:
        with pytest.raises(InvalidUserData):
            normalize_full_name("  ")
