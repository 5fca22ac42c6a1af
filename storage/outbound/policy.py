"""Where the server may send a request on a tenant's behalf: the one rule, implemented once.

A tenant chooses some of the addresses this process calls (an LLM base URL, in the past a
service-account key's token endpoint). Without a rule, that turns the server into the
tenant's proxy into the operator's network: loopback admin ports, a cloud's metadata service
(169.254.169.254), databases on private addresses. So a destination is allowed only when
every address its name resolves to is a public unicast address, or when the operator listed
it in COURSEBOT_OUTBOUND_ALLOW (a self-hosted LLM on 10.0.0.5:8000). Plain http:// is only
for listed destinations: a tenant's API key must not cross the internet in clear text.

The name is resolved once per connection and the connection goes to the address that was
checked (see `client.py`), so a name that answers a public address to the check and a private
one to the connect (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

import httpx

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

ALLOW_SETTING = "COURSEBOT_OUTBOUND_ALLOW"
RESOLVE_TIMEOUT_S = 10.0

# What `ipaddress`'s is_global misses on Python 3.11: multicast counts as global there, and a
# few special-purpose blocks (RFC 6890 and successors) are neither private nor reachable.
_NOT_PUBLIC = tuple(
    ip_network(block)
    for block in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, ...)
        "2001:db8::/32",  # documentation
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?",
    re.IGNORECASE,
)


class OutboundError(Exception):
    """An outbound call was refused or failed. The message is written by us, names at most
    the host the tenant typed, and never carries the remote server's text: it may be shown
    to a tenant as it is. `kind` says which refusal of an address it was (not_found,
    not_https, private, invalid), for words in the reader's language; "other" otherwise;
    `host` is the host it named."""

    def __init__(self, message: str, kind: str = "other", host: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.host = host


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, 6to4, NAT64), if any: the packet
    ends up there, so that is the address to judge."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True for a public unicast address; False for loopback, private (RFC 1918, ULA),
    link-local (metadata services), CGNAT, unspecified, multicast, reserved, documentation
    and benchmarking addresses, also when wrapped in an IPv6 address."""
    if isinstance(address, IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public_address(inner)
    if (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    return not any(address in block for block in _NOT_PUBLIC if block.version == address.version)


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


@dataclass(frozen=True)
class AllowEntry:
    """One operator-allowed destination: a host name or a network, on one port or all."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def permits(self, host: str, port: int, addresses: Sequence[IPAddress]) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return _normal_host(host) == self.host
        assert self.network is not None
        return bool(addresses) and all(address in self.network for address in addresses)


@dataclass(frozen=True)
class AllowList:
    """The destinations the operator allows although private (and over plain http)."""

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """`host`, `host:port`, `address`, `address:port`, `[v6]:port` or `network/prefix`,
        comma-separated; ValueError naming the setting and the entry otherwise."""
        return cls(tuple(_entry(part.strip()) for part in raw.split(",") if part.strip()))

    def permits(self, host: str, port: int, addresses: Sequence[IPAddress]) -> bool:
        return any(entry.permits(host, port, addresses) for entry in self.entries)


def _entry(text: str) -> AllowEntry:
    try:
        if "/" in text:
            return AllowEntry(network=ip_network(text, strict=False))
        address = _literal(text)
        if address is not None:  # a bare address (an IPv6 one with a port needs brackets)
            return AllowEntry(network=ip_network(address))
        host, port = _split_port(text)
        address = _literal(host)
        if address is not None:
            return AllowEntry(network=ip_network(address), port=port)
        if _HOST_NAME.fullmatch(host) and not host.replace(".", "").isdigit():
            return AllowEntry(host=_normal_host(host), port=port)
    except ValueError:
        pass
    raise ValueError(
        f"{ALLOW_SETTING}: {text!r} is not a host, host:port, address or network "
        "(examples: llm.internal, 10.0.0.5:8000, [fd00::5]:8000, 10.0.0.0/8)"
    )


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # an IPv6 address, maybe with a port
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not isinstance(_literal(host), IPv6Address):
            raise ValueError(text)
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(text)
        port_text = rest[1:]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    else:
        return text, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(text)
    return host, int(port_text)


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the system resolver gives for a host name (off the event loop)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ip_address(info[4][0]) for info in infos]


@dataclass(frozen=True)
class OutboundPolicy:
    """The rule plus the resolver it judges names with (tests give a resolver of their own)."""

    allow: AllowList = field(default_factory=AllowList)
    resolve: Resolver = system_resolver

    async def vet(self, host: str, port: int, *, plain: bool) -> list[IPAddress]:
        """The addresses to connect to for host:port, each of them allowed; OutboundError
        otherwise. `plain` is true for an unencrypted (http://) connection."""
        literal = _literal(host)
        addresses = [literal] if literal is not None else await self._lookup(host, port)
        self.check(host, port, addresses, plain=plain)
        return addresses

    def check(self, host: str, port: int, addresses: Sequence[IPAddress], *, plain: bool) -> None:
        if not addresses:
            raise OutboundError(f"the address {host} could not be found", "not_found", host)
        if self.allow.permits(host, port, addresses):
            return
        if plain:
            raise OutboundError(
                f"only https:// addresses can be used, not http://{host}", "not_https", host
            )
        if not all(is_public_address(address) for address in addresses):
            raise OutboundError(
                f"the address {host} is in a private or local network", "private", host
            )

    async def check_url(self, url: str) -> None:
        """What a request to `url` would be refused for, without sending anything: for
        settings a tenant saves (the same rule applies again on every call)."""
        host, port, plain = url_destination(url)
        await self.vet(host, port, plain=plain)

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                return _unique(await self.resolve(host, port))
        except (OSError, UnicodeError, TimeoutError):
            raise OutboundError(
                f"the address {host} could not be found", "not_found", host
            ) from None


def url_destination(url: str | httpx.URL) -> tuple[str, int, bool]:
    """(host, port, plain) of an http(s) URL; OutboundError for anything else."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise OutboundError("the address is not a valid URL", "invalid") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise OutboundError("the address must start with https:// and name a host", "invalid")
    plain = parsed.scheme == "http"
    # The ASCII (IDNA) form: what the resolver and the TLS handshake get.
    return parsed.raw_host.decode("ascii"), parsed.port or (80 if plain else 443), plain


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return list(dict.fromkeys(addresses))
