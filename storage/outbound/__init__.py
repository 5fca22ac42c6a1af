"""Every HTTP call made on a tenant's behalf goes through here (DESIGN §10): the address rule
(`policy`), the guarded client (`client`) and its `requests` bridge (`requests_bridge`)."""

from storage.outbound.client import DEFAULT_MAX_BYTES, OutboundClient, OutboundResponse
from storage.outbound.policy import (
    ALLOW_SETTING,
    AllowList,
    OutboundError,
    OutboundPolicy,
    is_public_address,
    system_resolver,
)
from storage.outbound.requests_bridge import GuardedAdapter, guard

__all__ = [
    "ALLOW_SETTING",
    "DEFAULT_MAX_BYTES",
    "AllowList",
    "GuardedAdapter",
    "OutboundClient",
    "OutboundError",
    "OutboundPolicy",
    "OutboundResponse",
    "guard",
    "is_public_address",
    "system_resolver",
]
