"""Resolving the client address through trusted proxies only (issue 9, finding 4)."""

from __future__ import annotations

import pytest

from specimen_gateway.domain.forwarding import (
    TrustedProxies,
    forwarded_hops,
    forwarded_scheme,
    parse_address,
    resolve_client,
)

INGRESS = TrustedProxies.parse("10.0.0.0/8, 2001:db8:ffff::/48")


class TestTrustedProxies:
    def test_addresses_and_ranges_are_parsed_and_blanks_skipped(self) -> None:
        proxies = TrustedProxies.parse(" 127.0.0.1 ,, 10.0.0.0/8,::1 ")
        assert [str(n) for n in proxies.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]

    def test_empty_trusts_nobody(self) -> None:
        assert TrustedProxies.parse("").networks == ()

    @pytest.mark.parametrize("text", ["ingress", "10.0.0.1/8", "10.0.0.0/33", "300.1.1.1"])
    def test_a_bad_entry_is_named(self, text: str) -> None:
        with pytest.raises(ValueError, match=f"trusted proxy '{text}'"):
            TrustedProxies.parse(f"127.0.0.1, {text}")


class TestParseAddress:
    @pytest.mark.parametrize(("text", "expected"), [
        ("203.0.113.7", "203.0.113.7"), (" 203.0.113.7:4711", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"), ("2001:DB8:0::1", "2001:db8::1"),
    ])
    def test_forms_proxies_write(self, text: str, expected: str) -> None:
        assert str(parse_address(text)) == expected

    @pytest.mark.parametrize("text", ["", "unknown", "_hidden", "1.2.3", "[::1", "a:b:c"])
    def test_anything_else_is_none(self, text: str) -> None:
        assert parse_address(text) is None


class TestResolveClient:
    def test_an_untrusted_peer_is_the_client_whatever_it_says(self) -> None:
        assert resolve_client("192.0.2.1", ["203.0.113.7"], INGRESS) == "192.0.2.1"
        assert resolve_client("127.0.0.1", ["203.0.113.7"], TrustedProxies()) == "127.0.0.1"

    def test_the_address_a_trusted_proxy_reports_is_the_client(self) -> None:
        assert resolve_client("10.0.0.2", ["203.0.113.7"], INGRESS) == "203.0.113.7"

    def test_hops_left_of_the_first_untrusted_one_are_ignored(self) -> None:
        # The client wrote "198.51.100.9" itself; the ingress appended the real address.
        hops = ["198.51.100.9", "203.0.113.7", "10.1.2.3"]
        assert resolve_client("10.0.0.2", hops, INGRESS) == "203.0.113.7"

    def test_rotating_the_header_from_an_untrusted_peer_changes_nothing(self) -> None:
        assert {resolve_client("192.0.2.1", [f"203.0.113.{n}"], INGRESS)
                for n in range(20)} == {"192.0.2.1"}

    def test_a_trusted_peer_without_the_header_is_the_client(self) -> None:
        assert resolve_client("10.0.0.2", [], INGRESS) == "10.0.0.2"

    def test_when_every_hop_is_trusted_the_leftmost_is_the_client(self) -> None:
        assert resolve_client("10.0.0.2", ["10.9.9.9", "10.0.0.3"], INGRESS) == "10.9.9.9"

    @pytest.mark.parametrize("garbage", ["unknown", "", "not-an-ip", "1.2.3.4.5"])
    def test_a_malformed_hop_stops_at_the_proxy_that_wrote_it(self, garbage: str) -> None:
        assert resolve_client("10.0.0.2", ["203.0.113.7", garbage], INGRESS) == "10.0.0.2"
        assert resolve_client("10.0.0.2", [garbage, "10.0.0.7"], INGRESS) == "10.0.0.7"

    def test_ipv6_and_ports_are_understood(self) -> None:
        assert resolve_client("2001:db8:ffff::1", ["[2001:db8:1::5]:5000"], INGRESS) == (
            "2001:db8:1::5")

    def test_no_peer_is_unknown(self) -> None:
        assert resolve_client(None, ["203.0.113.7"], INGRESS) is None


class TestForwardedHops:
    def test_repeated_headers_make_one_list(self) -> None:
        assert forwarded_hops([b"a, b", b" c"]) == ["a", "b", "c"]


class TestForwardedScheme:
    def test_only_a_trusted_peer_sets_the_scheme(self) -> None:
        assert forwarded_scheme("10.0.0.2", b"HTTPS", INGRESS) == "https"
        assert forwarded_scheme("192.0.2.1", b"https", INGRESS) is None
        assert forwarded_scheme("10.0.0.2", b"ftp", INGRESS) is None
        assert forwarded_scheme("10.0.0.2", None, INGRESS) is None
