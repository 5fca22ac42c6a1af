"""A resolver for `OutboundPolicy` that answers from a table: the names a test needs, with
the addresses it wants them to have (a public name pointing at loopback, a name that changes
its answer), and "not found" for everything else. It never asks the network, so tests do
not depend on the machine's DNS."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address

from storage.outbound.policy import IPAddress

# A public address no test connects to (outside every special-purpose block).
PUBLIC_ADDRESS = "93.184.215.14"


@dataclass
class StaticResolver:
    names: Mapping[str, Sequence[str]]
    lookups: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        addresses = self.names.get(host.lower().rstrip("."))
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip_address(address) for address in addresses]


def public_names(*names: str) -> StaticResolver:
    """Each name resolves to one public address."""
    return StaticResolver({name: [PUBLIC_ADDRESS] for name in names})
