"""Who the client is, when proxies stand between it and the gateway.

``X-Forwarded-For`` is a list any client can write; only the entries appended by proxies we
run can be believed. So the address is found by walking the list from the right (the hop
closest to the gateway) for as long as the address that wrote the entry is a trusted proxy
(``SPECIMEN_TRUSTED_PROXIES``): the first entry written by a trusted proxy about an untrusted
address is the client. A connection from an untrusted address is that client itself, whatever
its headers say. With no trusted proxy (the default) the header is never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})


def parse_address(text: str) -> IPAddress | None:
    """An IP address from one forwarded hop, or ``None`` when it is not one.

    Proxies write bare addresses, but some add a port (``203.0.113.7:4711``,
    ``[2001:db8::1]:4711``); those are accepted. IPv4-mapped IPv6 addresses become IPv4, so
    one client has one spelling.

    >>> parse_address(" [2001:db8::1]:443 ")
    IPv6Address('2001:db8::1')
    >>> parse_address("unknown") is None
    True
    """
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose connections may report a client address."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """Comma-separated addresses or CIDR ranges; empty trusts nobody.

        >>> TrustedProxies.parse("10.0.0.0/8, 127.0.0.1").networks
        (IPv4Network('10.0.0.0/8'), IPv4Network('127.0.0.1/32'))

        Raises
        ------
        ValueError
            An entry is neither an address nor a network (host bits set count as an error:
            ``10.0.0.1/8`` is probably a typo for ``10.0.0.0/8``).
        """
        networks = []
        for entry in (item.strip() for item in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry))
            except ValueError as error:
                raise ValueError(f"trusted proxy {entry!r} is not an IP address or CIDR range "
                                 f"such as 10.0.0.0/8 ({error})") from None
        return cls(tuple(networks))

    def __contains__(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def forwarded_hops(values: Iterable[bytes]) -> list[str]:
    """The entries of every ``X-Forwarded-For`` header, in order (repeats are one list)."""
    return [hop.strip() for value in values for hop in value.decode("latin-1").split(",")]


def resolve_client(peer: str | None, hops: Sequence[str], trusted: TrustedProxies) -> str | None:
    """The client's address, from the connection's ``peer`` and the forwarded ``hops``.

    The walk stops at the first hop that is not a trusted proxy and answers it. A hop that is
    not an address (``unknown``, garbage, empty) stops the walk too, and the answer is the
    trusted proxy that wrote it: believing nothing further left is the safe reading. When every
    hop is trusted, the leftmost is the best known client.

    >>> proxies = TrustedProxies.parse("10.0.0.0/8")
    >>> resolve_client("10.0.0.2", ["198.51.100.9", "203.0.113.7", "10.0.0.5"], proxies)
    '203.0.113.7'
    >>> resolve_client("192.0.2.1", ["203.0.113.7"], proxies)
    '192.0.2.1'
    """
    if peer is None:
        return None
    current = parse_address(peer)
    if current is None:
        return peer
    for hop in reversed(hops):
        if current not in trusted:
            break
        address = parse_address(hop)
        if address is None:
            break
        current = address
    return str(current)


def forwarded_scheme(peer: str | None, value: bytes | None, trusted: TrustedProxies) -> str | None:
    """The scheme a trusted proxy says the client used (``https`` behind a TLS ingress)."""
    if peer is None or value is None:
        return None
    address = parse_address(peer)
    scheme = value.decode("latin-1").strip().lower()
    if address is None or address not in trusted or scheme not in _SCHEMES:
        return None
    return scheme
