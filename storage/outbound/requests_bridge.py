"""The guarded client under a `requests` session, for libraries that only speak `requests`.

gspread and google-auth send through `requests`. Guarding urllib3 as well would mean a
second copy of the address rule on a second HTTP stack; instead this adapter hands each
request to the one `OutboundClient`, on the event loop that owns it, and waits for the
answer in the calling thread. Such a session is therefore for worker threads only (the
blocking library code never runs on the loop, and the loop is never blocked waiting for
itself: that case is refused).
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from storage.outbound.client import DEFAULT_MAX_BYTES, OutboundClient, OutboundResponse
from storage.outbound.policy import OutboundError

# Time for the loop to hand the outcome back after the client's own deadline has passed.
_HANDOVER_S = 5.0


class GuardedAdapter(BaseAdapter):
    """A transport adapter that sends through `OutboundClient`. `json_only` refuses answers
    that are not a JSON object, for APIs that always answer JSON (Google's): the library
    then never parses anything else. `timeout_s` bounds each call; the library's own
    timeout argument is not used."""

    def __init__(
        self,
        client: OutboundClient,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout_s: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        json_only: bool = False,
    ) -> None:
        super().__init__()
        self._client = client
        self._loop = loop
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._json_only = json_only

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if _running_loop() is self._loop:
            raise RuntimeError("a guarded requests session blocks: use it in a worker thread")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        call = self._client.request(
            request.method or "GET",
            request.url or "",
            headers=dict(request.headers),
            content=body,
            timeout_s=self._timeout_s,
            max_bytes=self._max_bytes,
        )
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            answer = future.result(self._timeout_s + _HANDOVER_S)
        except FutureTimeout:
            future.cancel()
            raise OutboundError(f"no answer within {self._timeout_s:g} s") from None
        if self._json_only:
            answer.json_object()
        return _response(request, answer)

    def close(self) -> None:
        """Nothing to close: the client belongs to the process."""


def guard(session: requests.Session, adapter: GuardedAdapter) -> requests.Session:
    """Route every http(s) request of `session` through `adapter`; returns the session."""
    session.trust_env = False
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _response(request: requests.PreparedRequest, answer: OutboundResponse) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict(dict(answer.headers))
    response.raw = io.BytesIO(answer.content)
    response.url = request.url or ""
    response.request = request
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    try:
        response.reason = HTTPStatus(answer.status).phrase
    except ValueError:
        response.reason = ""
    return response
