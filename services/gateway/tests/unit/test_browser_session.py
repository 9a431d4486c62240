"""The web UI's cookie session turned into a bearer token, and its CSRF check."""

from __future__ import annotations

import pytest

from specimen_gateway.domain.browser_session import (
    CsrfRejected,
    cookie_credentials,
    parse_cookies,
    same_token,
)

COOKIES = b"specimen_access=tok; theme=dark; specimen_csrf=c1; specimen_refresh=r"


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


class TestCookieCredentials:
    def test_a_safe_request_gets_the_cookie_token_as_bearer_and_loses_the_session_cookies(
        self) -> None:
        found = cookie_credentials("GET", [(b"cookie", COOKIES)])
        assert found.from_cookie
        assert header(found.headers, b"authorization") == [b"Bearer tok"]
        assert header(found.headers, b"cookie") == [b"theme=dark"]

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    def test_an_unsafe_request_without_the_csrf_header_is_refused(self, method: str) -> None:
        with pytest.raises(CsrfRejected):
            cookie_credentials(method, [(b"cookie", COOKIES)])

    def test_an_unsafe_request_with_another_csrf_token_is_refused(self) -> None:
        with pytest.raises(CsrfRejected):
            cookie_credentials("POST", [(b"cookie", COOKIES), (b"x-csrf-token", b"c2")])

    def test_an_unsafe_request_with_the_csrf_token_passes(self) -> None:
        found = cookie_credentials("DELETE", [(b"cookie", COOKIES), (b"x-csrf-token", b"c1")])
        assert header(found.headers, b"authorization") == [b"Bearer tok"]

    def test_an_authorization_header_wins_and_needs_no_csrf_token(self) -> None:
        found = cookie_credentials("POST", [(b"authorization", b"Bearer mine"),
                                            (b"cookie", COOKIES)])
        assert not found.from_cookie
        assert header(found.headers, b"authorization") == [b"Bearer mine"]
        assert header(found.headers, b"cookie") == [b"theme=dark"]

    def test_only_session_cookies_are_dropped_whole(self) -> None:
        found = cookie_credentials("POST", [(b"cookie", b"specimen_csrf=c1")])
        assert found.headers == [] and not found.from_cookie

    def test_without_the_access_cookie_nothing_is_added(self) -> None:
        found = cookie_credentials("POST", [(b"cookie", b"theme=dark")])
        assert found.headers == [(b"cookie", b"theme=dark")] and not found.from_cookie


def test_parse_cookies_keeps_the_first_of_repeated_names() -> None:
    assert parse_cookies(['a=1; b="2"', "a=3; =x; junk"]) == {"a": "1", "b": "2"}


@pytest.mark.parametrize(("sent", "expected", "same"), [
    ("abc", "abc", True), ("abc", "abd", False), ("", "", False), (None, "abc", False),
    ("abc", None, False),
])
def test_same_token(sent: str | None, expected: str | None, same: bool) -> None:
    assert same_token(sent, expected) is same
