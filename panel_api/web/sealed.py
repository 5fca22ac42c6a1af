"""Small values a page hands to the browser and gets back in a form, sealed with an HMAC of
the panel's secret so that nothing the browser changes is believed.

The simulator keeps its state this way (the actions taken so far) instead of in a store:
each request carries it, and a state that was edited, made for another version or user, or
is larger than the page ever makes is refused like any other bad input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from storage.crypto import SecretBox


def _key(box: SecretBox, purpose: str) -> bytes:
    return box.derive(f"panel-sealed:{purpose}").reveal().encode()


def seal(box: SecretBox, purpose: str, value: Any) -> str:
    """`value` (JSON-able) as text only this panel can have made for `purpose`."""
    body = base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")
    mac = hmac.new(_key(box, purpose), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unseal(box: SecretBox, purpose: str, sealed: str, *, max_chars: int) -> Any | None:
    """The value `seal` put into `sealed`; None when it is too long, malformed or was not
    sealed here for `purpose`."""
    if len(sealed) > max_chars or "." not in sealed:
        return None
    body, mac = sealed.rsplit(".", 1)
    expected = hmac.new(_key(box, purpose), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
