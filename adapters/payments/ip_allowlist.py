"""YooKassa's published notification source addresses.

Notifications are not signed, so re-fetching the payment is the real check; the allow-list is
a cheap extra filter, off by default because behind a proxy the client address is the proxy's
unless the proxy is named in COURSEBOT_TRUSTED_PROXIES (then its X-Forwarded-For is believed,
process.py `server_config`). The list matches the one the official SDK ships
(yookassa.domain.common.security_helper) and YooKassa's documentation.
"""

from __future__ import annotations

import ipaddress

YOOKASSA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "185.71.76.0/27",
        "185.71.77.0/27",
        "77.75.153.0/25",
        "77.75.156.11/32",
        "77.75.156.35/32",
        "77.75.154.128/25",
        "2a02:5180::/32",
    )
)


def is_yookassa_address(client_ip: str | None) -> bool:
    """True only for a well-formed address inside one of YooKassa's networks."""
    if not client_ip:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d
    return any(address in network for network in YOOKASSA_NETWORKS)
