"""The guarded outbound client over real sockets: what it refuses never reaches a listener on
127.0.0.1, what the operator allows works, and no answer's text leaks into an error."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from storage.outbound import (
    AllowList,
    GuardedAdapter,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    guard,
)
from tests.fakes.dns import StaticResolver
from tests.fakes.listener import MARKER, Listener


def _client(allow: str = "", names: dict[str, list[str]] | None = None, **kwargs) -> OutboundClient:
    resolver = StaticResolver(names or {"localhost": ["127.0.0.1"]})
    return OutboundClient(OutboundPolicy(AllowList.parse(allow), resolver), **kwargs)


async def _refused(client: OutboundClient, url: str, **kwargs) -> str:
    with pytest.raises(OutboundError) as refused:
        answer = await client.request("POST", url, json={"q": 1}, timeout_s=5, **kwargs)
        answer.ensure_ok().json_object()
    assert MARKER not in str(refused.value)
    return str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/v1/chat/completions",
        "http://127.0.0.1:{port}/v1/chat/completions",
        "https://localhost:{port}/token",
        "https://llm.attacker.example:{port}/v1",  # a public-looking name pointing inside
    ],
)
async def test_a_local_listener_receives_nothing(url):
    client = _client(names={"localhost": ["127.0.0.1"], "llm.attacker.example": ["127.0.0.1"]})
    async with Listener() as inside:
        message = await _refused(client, url.format(port=inside.port))
    assert inside.connections == 0
    assert "private or local network" in message or "only https://" in message
    await client.aclose()


async def test_the_operator_setting_opens_one_listed_port_and_no_other():
    async with Listener() as allowed, Listener() as other:
        client = _client(allow=f"127.0.0.1:{allowed.port}")
        answer = await client.request("POST", allowed.url("/v1"), json={}, timeout_s=5)
        assert answer.ensure_ok().json_object()["choices"][0]["message"]["content"] == MARKER
        message = await _refused(client, other.url("/v1"))
        await client.aclose()
    assert allowed.connections == 1 and other.connections == 0
    assert message == "only https:// addresses can be used, not http://127.0.0.1"


async def test_a_redirect_is_not_followed():
    async with (
        Listener() as target,
        Listener(status=302, headers={"Location": target.url("/steal")}) as first,
    ):
        client = _client(allow=f"127.0.0.1:{first.port},127.0.0.1:{target.port}")
        message = await _refused(client, first.url("/v1"))
        await client.aclose()
    assert message == "127.0.0.1 answered with a redirect (HTTP 302), which is not followed"
    assert first.connections == 1 and target.connections == 0


@pytest.mark.parametrize("declare_length", [True, False])
async def test_an_answer_past_the_size_cap_is_refused(declare_length):
    async with Listener(body_size=3 * 1024 * 1024, declare_length=declare_length) as big:
        client = _client(allow=f"127.0.0.1:{big.port}")
        message = await _refused(client, big.url("/v1"), max_bytes=1024 * 1024)
        await client.aclose()
    assert message == "the answer from 127.0.0.1 is larger than 1 MiB"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, f"<html>{MARKER}</html>", "the answer from 127.0.0.1 is not JSON"),
        (200, f'["{MARKER}"]', "the answer from 127.0.0.1 is not a JSON object"),
        (502, f'{{"error": "{MARKER}"}}', "127.0.0.1 answered HTTP 502"),
    ],
)
async def test_a_bad_answer_becomes_our_words_without_its_text(status, body, expected):
    async with Listener(status=status, body=body.encode()) as server:
        client = _client(allow=f"127.0.0.1:{server.port}")
        assert await _refused(client, server.url("/v1")) == expected
        await client.aclose()


async def test_a_slow_answer_ends_at_the_deadline():
    async with Listener(delay=5.0) as slow:
        client = _client(allow=f"127.0.0.1:{slow.port}")
        with pytest.raises(OutboundError) as late:
            await client.request("GET", slow.url("/v1"), timeout_s=0.3)
        await client.aclose()
    assert str(late.value) == "no answer from 127.0.0.1 within 0.3 s"


async def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to():
    # The second answer would be 127.0.0.2 (nothing listens there): a client that looked the
    # name up again to connect would follow the rebinding and fail.
    class Rebinding(StaticResolver):
        async def __call__(self, host, port):
            answer = await super().__call__(host, port)
            self.names = {"rebind.test": ["127.0.0.2"]}
            return answer

    resolver = Rebinding({"rebind.test": ["127.0.0.1"]})
    async with Listener() as server:
        client = OutboundClient(OutboundPolicy(AllowList.parse("127.0.0.1"), resolver))
        answer = await client.request("GET", f"http://rebind.test:{server.port}/", timeout_s=5)
        await client.aclose()
    assert answer.status == 200 and server.connections == 1
    assert resolver.lookups == ["rebind.test"]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    """(server context for llm.test, client context trusting only the test CA)."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coursebot test CA")])
    ca = certificate("coursebot test CA", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate("llm.test", server_key, ca_name, ca_key, ca=False)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(folder / "server.pem", folder / "server.key")
    client_context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    yield server_context, client_context


async def test_tls_is_checked_against_the_host_name_while_connecting_to_the_checked_address(
    tls_files,
):
    server_context, client_context = tls_files
    names = {"llm.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"]}
    async with Listener(tls=server_context) as server:
        client = _client(allow="127.0.0.1", names=names, ssl_context=client_context)
        answer = await client.request("GET", f"https://llm.test:{server.port}/", timeout_s=5)
        assert answer.json_object()["access_token"] == MARKER
        # The same address under a name the certificate does not cover is refused.
        message = await _refused(client, f"https://impostor.test:{server.port}/")
        await client.aclose()
    assert message == "could not connect to impostor.test"
    assert b"Host: llm.test" in server.requests[0]


async def test_the_requests_bridge_sends_through_the_guard_from_a_worker_thread():
    async with Listener() as allowed, Listener(body=b"<html>not json</html>") as html:
        client = _client(allow=f"127.0.0.1:{allowed.port},127.0.0.1:{html.port}")
        loop = asyncio.get_running_loop()
        session = guard(
            requests.Session(), GuardedAdapter(client, loop, timeout_s=5, json_only=True)
        )
        response = await asyncio.to_thread(session.post, allowed.url("/token"), data={"a": "b"})
        assert response.status_code == 200 and response.json()["access_token"] == MARKER
        assert b"a=b" in allowed.requests[0]
        with pytest.raises(OutboundError, match="is not JSON"):
            await asyncio.to_thread(session.get, html.url("/"))
        async with Listener() as inside:
            with pytest.raises(OutboundError, match="only https://"):
                await asyncio.to_thread(session.get, inside.url("/"))
        with pytest.raises(RuntimeError, match="worker thread"):
            session.get(allowed.url("/"))  # on the loop it would wait for itself
        await client.aclose()
    assert inside.connections == 0
