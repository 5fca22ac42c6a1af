"""The outbound address rule (DESIGN §10): which destinations a call on a tenant's behalf may
reach, judged on the addresses a name resolves to, and the operator's allow-list."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from storage.config import Settings
from storage.outbound import AllowList, OutboundError, OutboundPolicy, is_public_address
from tests.fakes.dns import PUBLIC_ADDRESS, StaticResolver

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata service
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fe80::1",
    "fc00::1",
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",  # documentation
    "198.51.100.7",
    "203.0.113.9",
    "2001:db8::1",
    "198.18.0.1",  # benchmarking
    "192.0.0.8",
    "fec0::1",  # old site-local
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "64:ff9b::7f00:1",
    "::7f00:1",  # IPv4-compatible (deprecated) loopback
]
PUBLIC = ["8.8.8.8", PUBLIC_ADDRESS, "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_outside_the_public_internet_are_not_public(address):
    assert not is_public_address(ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_are_public(address):
    assert is_public_address(ip_address(address))


def _policy(names: dict[str, list[str]], allow: str = "") -> OutboundPolicy:
    return OutboundPolicy(AllowList.parse(allow), StaticResolver(names))


async def _refusal(policy: OutboundPolicy, url: str) -> str:
    with pytest.raises(OutboundError) as refused:
        await policy.check_url(url)
    return str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/v1",
        "https://[::1]:8443/v1",
        "https://10.0.0.5/v1",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:127.0.0.1]/",
        "https://100.64.1.1/",
        "https://localhost/v1",
    ],
)
async def test_private_and_local_destinations_are_refused(url):
    policy = OutboundPolicy(resolve=StaticResolver({"localhost": ["127.0.0.1", "::1"]}))
    assert "private or local network" in await _refusal(policy, url)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "localhost"])
async def test_other_spellings_of_loopback_are_judged_by_what_they_resolve_to(host):
    # The system resolver reads these as 127.0.0.1 (no DNS query is made for them).
    message = await _refusal(OutboundPolicy(), f"https://{host}/v1")
    assert message == f"the address {host} is in a private or local network"


async def test_a_public_name_resolving_to_loopback_is_refused():
    policy = _policy({"llm.attacker.example": ["127.0.0.1"]})
    message = await _refusal(policy, "https://llm.attacker.example/v1")
    assert message == "the address llm.attacker.example is in a private or local network"


async def test_one_private_address_among_public_ones_refuses_the_name():
    # Else a rebinding name could hand the connect step the private one.
    policy = _policy({"mixed.example": [PUBLIC_ADDRESS, "10.0.0.7"]})
    assert "private" in await _refusal(policy, "https://mixed.example/")


async def test_a_public_https_name_is_allowed_and_resolved_once():
    resolver = StaticResolver({"api.example": [PUBLIC_ADDRESS]})
    policy = OutboundPolicy(resolve=resolver)
    assert await policy.vet("api.example", 443, plain=False) == [ip_address(PUBLIC_ADDRESS)]
    assert resolver.lookups == ["api.example"]


async def test_plain_http_is_refused_even_to_a_public_address():
    policy = _policy({"api.example": [PUBLIC_ADDRESS]})
    message = await _refusal(policy, "http://api.example/v1")
    assert message == "only https:// addresses can be used, not http://api.example"


@pytest.mark.parametrize("url", ["ftp://api.example/", "file:///etc/passwd", "api.example/v1"])
async def test_other_schemes_are_refused(url):
    assert "must start with https://" in await _refusal(_policy({}), url)


async def test_an_unknown_name_is_not_found():
    message = await _refusal(_policy({}), "https://nowhere.example/v1")
    assert message == "the address nowhere.example could not be found"


async def test_the_allow_list_opens_exactly_the_listed_host_and_port():
    policy = _policy({"llm.internal": ["10.0.0.5"]}, allow="10.0.0.5:8000, llm.internal:9000")
    await policy.check_url("http://10.0.0.5:8000/v1")  # plain http too: the operator chose
    await policy.check_url("https://10.0.0.5:8000/v1")
    await policy.check_url("http://llm.internal:9000/v1")
    assert "private" in await _refusal(policy, "https://10.0.0.5:8001/v1")
    assert "https://" in await _refusal(policy, "http://10.0.0.6:8000/v1")
    assert "private" in await _refusal(policy, "https://llm.internal:9001/v1")


async def test_an_allowed_network_covers_names_resolving_into_it():
    policy = _policy({"gpu.lan": ["10.1.2.3"], "db.lan": ["10.1.2.4", "192.168.0.9"]}, "10.0.0.0/8")
    await policy.check_url("https://gpu.lan/v1")
    assert "private" in await _refusal(policy, "https://db.lan/v1")  # one address outside


def test_the_operator_setting_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("COURSEBOT_OUTBOUND_ALLOW", " 10.0.0.5:8000 , llm.internal,[fd00::5]:8000,")
    allow = Settings.from_env().outbound_allow
    assert allow.permits("10.0.0.5", 8000, [ip_address("10.0.0.5")])
    assert allow.permits("LLM.internal.", 443, [ip_address("10.9.9.9")])
    assert allow.permits("fd00::5", 8000, [ip_address("fd00::5")])
    assert not allow.permits("10.0.0.5", 8001, [ip_address("10.0.0.5")])


@pytest.mark.parametrize(
    "raw",
    ["llm internal", "10.0.0.5:0", "http://10.0.0.5", "10.0.0.0/33", "host:port", "[::1", "[llm]"],
)
def test_a_malformed_operator_setting_stops_the_start_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("COURSEBOT_OUTBOUND_ALLOW", raw)
    with pytest.raises(ValueError, match="COURSEBOT_OUTBOUND_ALLOW"):
        Settings.from_env()
