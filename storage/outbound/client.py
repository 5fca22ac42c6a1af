"""The guarded HTTP client every call on a tenant's behalf goes through.

httpx builds the request (JSON, forms, multipart files); httpcore sends it, through a network
backend of ours whose `connect_tcp` resolves the host once, applies the policy to every
address and connects to a checked address. TLS is then set up by httpcore as usual, against
the host name of the URL (SNI and certificate check), so pinning the address costs no
security; pooled connections stay keyed by host name. Doing this in the backend, rather than
rewriting the URL to the address with an `sni_hostname` extension, keeps the check at the one
place where sockets are opened and never lets a connection made for one name serve another.

On top of that: no redirects (a 3xx is an error), a short connect timeout, a deadline for the
whole call (name lookup included), a cap on the answer's size read as it streams in, no
compressed answers (nothing to inflate), no proxies from the environment, and every failure
one `OutboundError` whose text is ours, never the remote server's.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import httpcore
import httpx

from storage.outbound.policy import AllowList, OutboundError, OutboundPolicy, url_destination

CONNECT_TIMEOUT_S = 5.0
DEFAULT_MAX_BYTES = 1024 * 1024


# No cap on open connections: with one pool for every account, a cap would let one account's
# slow endpoint hold all of them and make the others' calls queue. Each student chat has at
# most one call in flight, which bounds them.
class _PoolLimits(TypedDict):
    max_connections: int | None
    max_keepalive_connections: int
    keepalive_expiry: float


_POOL_LIMITS = _PoolLimits(max_connections=None, max_keepalive_connections=20, keepalive_expiry=5.0)


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size} bytes"


@dataclass(frozen=True)
class OutboundResponse:
    """A complete answer, of any status but a redirect (those never get here)."""

    host: str
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes

    def ensure_ok(self) -> OutboundResponse:
        if not 200 <= self.status < 300:
            raise OutboundError(f"{self.host} answered HTTP {self.status}")
        return self

    def json_object(self) -> dict[str, Any]:
        try:
            data = jsonlib.loads(self.content)
        except ValueError:
            raise OutboundError(f"the answer from {self.host} is not JSON") from None
        if not isinstance(data, dict):
            raise OutboundError(f"the answer from {self.host} is not a JSON object")
        return data


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy allows, resolving each name once."""

    def __init__(self, policy: OutboundPolicy, *, plain: bool) -> None:
        self._policy = policy
        self._plain = plain
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.vet(host, port, plain=self._plain)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # every one of them passed the check
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class OutboundClient:
    """One per process (it pools connections); safe to share between tenants, since it holds
    no identity: credentials travel in each request's headers."""

    def __init__(
        self, policy: OutboundPolicy | None = None, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.policy = policy or OutboundPolicy()
        context = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._pools = {
            "https": httpcore.AsyncConnectionPool(
                ssl_context=context,
                network_backend=_GuardedBackend(self.policy, plain=False),
                **_POOL_LIMITS,
            ),
            "http": httpcore.AsyncConnectionPool(
                network_backend=_GuardedBackend(self.policy, plain=True), **_POOL_LIMITS
            ),
        }

    @classmethod
    def allowing(cls, allow: AllowList) -> OutboundClient:
        """The production client for the operator's allow-list (the system resolver)."""
        return cls(OutboundPolicy(allow))

    async def request(
        self,
        method: str,
        url: str,
        *,
        timeout_s: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> OutboundResponse:
        """Send one request and read the whole answer; OutboundError for anything refused,
        unreachable, too slow, too large or redirected."""
        host, _, _ = url_destination(url)
        sent = httpx.Headers(headers)
        sent["Accept-Encoding"] = "identity"  # nothing compressed to inflate past the cap
        try:
            request = httpx.Request(
                method, url, headers=sent, content=content, json=json, data=data, files=files
            )
        except httpx.InvalidURL:
            raise OutboundError("the address is not a valid URL") from None
        pool = self._pools[request.url.scheme]
        try:
            async with asyncio.timeout(timeout_s):
                return await self._send(pool, request, host, timeout_s, max_bytes)
        except httpcore.ConnectTimeout:
            raise OutboundError(f"could not connect to {host} in time") from None
        except (TimeoutError, httpcore.TimeoutException):
            raise OutboundError(f"no answer from {host} within {timeout_s:g} s") from None
        except httpcore.ConnectError:  # refused, unreachable, or a certificate not for host
            raise OutboundError(f"could not connect to {host}") from None
        except (httpcore.NetworkError, httpcore.ProtocolError):
            raise OutboundError(f"the connection to {host} broke off") from None

    async def _send(
        self,
        pool: httpcore.AsyncConnectionPool,
        request: httpx.Request,
        host: str,
        timeout_s: float,
        max_bytes: int,
    ) -> OutboundResponse:
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        timeouts = {
            "connect": min(CONNECT_TIMEOUT_S, timeout_s),
            "read": timeout_s,
            "write": timeout_s,
            "pool": timeout_s,
        }
        async with pool.stream(
            request.method,
            url,
            headers=request.headers.raw,
            content=request.read() or None,  # no body: no chunked framing on a GET
            extensions={"timeout": timeouts},
        ) as response:
            if 300 <= response.status < 400:
                raise OutboundError(
                    f"{host} answered with a redirect (HTTP {response.status}), "
                    "which is not followed"
                )
            too_large = OutboundError(
                f"the answer from {host} is larger than {_size_text(max_bytes)}"
            )
            headers = tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.headers
            )
            declared = httpx.Headers(headers).get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large
            body = bytearray()
            async for chunk in response.aiter_stream():
                body += chunk
                if len(body) > max_bytes:
                    raise too_large
        return OutboundResponse(host, response.status, headers, bytes(body))

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
