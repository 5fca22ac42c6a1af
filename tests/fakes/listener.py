"""A bare TCP listener on 127.0.0.1 standing for a service inside the operator's network.

It counts every connection, even one that sends nothing, so a test can prove that a refused
call never reached it (not merely that its answer was dropped). Each HTTP request gets the
same scripted answer, by default an OpenAI-shaped and token-shaped JSON object carrying
`MARKER`, the text that must never reach a tenant or a student.

Usage:
    async with Listener() as inside:
        ... call inside.url("/v1") through the code under test ...
        assert inside.connections == 0
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field

MARKER = "INTERNAL-SECRET-7f3c9a"
DEFAULT_BODY = json.dumps(
    {
        "access_token": MARKER,
        "expires_in": 3600,
        "token_type": "Bearer",
        "choices": [{"message": {"role": "assistant", "content": MARKER}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        "error": {"code": 500, "message": MARKER},
    }
).encode()


@dataclass
class Listener:
    """`status`, `headers` and `body` make the answer; `body_size` sends that many bytes of
    padding instead (a response bigger than any cap); `delay` waits before answering;
    `tls` serves HTTPS."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = DEFAULT_BODY
    body_size: int | None = None
    declare_length: bool = True
    delay: float = 0.0
    tls: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/", *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            self.requests.append(head + await reader.readexactly(length))
            await asyncio.sleep(self.delay)
            await self._answer(writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        size = self.body_size if self.body_size is not None else len(self.body)
        lines = [f"HTTP/1.1 {self.status} Scripted", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.declare_length:
            lines.append(f"Content-Length: {size}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        if self.body_size is None:
            writer.write(self.body)
        else:
            chunk = b"x" * 65536
            for start in range(0, size, len(chunk)):
                writer.write(chunk[: size - start])
                await writer.drain()
        await writer.drain()
