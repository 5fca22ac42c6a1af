"""The benchmarks' stub Bot API (benchmarks/stub_api.py) over HTTP, in a process of its own,
with the scripted students (benchmarks/students.py) beside it.

The scale-out benchmark runs real `coursebot runner` processes, which can only reach a Bot
API over HTTP. This process serves `StubTelegram` on 127.0.0.1 and drives the students from
the messages it answers, so the runners do the same work as in the throughput benchmark and
the students' latency is measured where the messages arrive. Each runner is given its own
path prefix as TELEGRAM_API_BASE (`/r1`, `/r2`, ...): the stub then knows which runner sent
each message, which is how a takeover is timed "until the bot answers from another runner".

Like Telegram, a second `getUpdates` for a token ends the one still open with 409
"Conflict: terminated by other getUpdates request".

The benchmark talks to it through `/control/...` (JSON):
- `POST /control/enroll` {"students": [[bot, user, payload], ...], "actions": n, "kinds": [...]}
- `POST /control/begin`: every student presses Start;
- `GET /control/status`: answers so far, whether all finished, per-runner sends;
- `GET /control/result`: the latencies and the seconds from begin to the last answer;
- `POST /control/probe` {"bots": [...], "victim": "r1", "timeout": s}: a new student starts
  each bot, again until a runner other than the victim answers; returns when every bot did
  (the seconds per bot, and the (bot, user) chats it started).

    python -m benchmarks.stub_server [--port 0]     # prints "stub Bot API on <port>"
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import itertools
import json
import signal
import sys
import time
from collections import Counter
from typing import Any

from aiohttp import web

from benchmarks.stub_api import StubTelegram
from benchmarks.students import Classroom

# Which runner's request is being answered (its TELEGRAM_API_BASE prefix): set per request,
# read by the send listeners, which the stub calls within the request.
CURRENT_RUNNER: contextvars.ContextVar[str] = contextvars.ContextVar("runner", default="")
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
FIRST_PROBE_USER = 900_000_000


class StubServer:
    def __init__(self) -> None:
        self.api = StubTelegram()
        self.classroom: Classroom | None = None
        self._payloads: dict[int, str] = {}  # bot -> a deep link its students start with
        self._polls: dict[int, asyncio.Future[Any]] = {}  # bot -> the getUpdates open now
        self._sends_by: Counter[str] = Counter()
        self._began = 0.0
        self._last_answer = 0.0
        self._probe_users = itertools.count(FIRST_PROBE_USER)
        self._probes: dict[tuple[int, int], asyncio.Future[str]] = {}
        self._expected: list[str] = []
        self.api.on_send.append(self._on_send)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/control/enroll", self.enroll)
        app.router.add_post("/control/begin", self.begin)
        app.router.add_get("/control/status", self.status)
        app.router.add_get("/control/result", self.result)
        app.router.add_post("/control/probe", self.probe)
        app.router.add_post("/{runner}/bot{token}/{method}", self.bot_api)
        return app

    # ---- the Bot API --------------------------------------------------------------------

    async def bot_api(self, request: web.Request) -> web.Response:
        CURRENT_RUNNER.set(request.match_info["runner"])
        token, method = request.match_info["token"], request.match_info["method"]
        form = await request.post()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            if method.lower() == "getupdates":
                result = await self._get_updates(token, method, params)
            else:
                result = await self.api.call(token, method, params)
        except LookupError as error:
            return _error(404, f"Not Found: {error}")
        except _Superseded:
            return _error(409, CONFLICT)
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """Telegram's rule: a newer poll for the token ends the older one with 409."""
        bot_id = int(token.split(":", 1)[0])
        older = self._polls.get(bot_id)
        if older is not None and not older.done():
            older.cancel()
        poll = asyncio.ensure_future(self.api.call(token, method, params))
        self._polls[bot_id] = poll
        try:
            await asyncio.wait({poll})
        except asyncio.CancelledError:  # the poller went away (a runner killed or stopping)
            poll.cancel()
            raise
        if poll.cancelled():
            raise _Superseded
        return poll.result()

    def _on_send(self, bot_id: int, chat_id: int, message: dict[str, Any]) -> None:
        runner = CURRENT_RUNNER.get()
        self._sends_by[runner] += 1
        self._last_answer = time.perf_counter()
        probe = self._probes.get((bot_id, chat_id))
        if probe is not None and not probe.done():
            probe.set_result(runner)

    # ---- the benchmark's controls -------------------------------------------------------

    async def enroll(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.classroom = Classroom(
            self.api, mode="course", actions=body["actions"], kinds=body["kinds"]
        )
        self._expected = list(body["kinds"][: body["actions"]])
        for bot_id, user_id, payload in body["students"]:
            self.classroom.enroll(bot_id, user_id, payload)
            self._payloads[bot_id] = payload
            self.api.bot(bot_id)
        return web.json_response({"students": len(body["students"])})

    async def begin(self, request: web.Request) -> web.Response:
        assert self.classroom is not None, "enroll first"
        self._began = time.perf_counter()
        self.classroom.begin()
        return web.json_response({"ok": True})

    async def status(self, request: web.Request) -> web.Response:
        classroom = self.classroom
        return web.json_response(
            {
                "answered": len(classroom.latencies) if classroom else 0,
                "finished": bool(classroom and classroom.finished.is_set()),
                "polls": self.api.calls["getupdates"],
                "polled_bots": sum(1 for p in self._polls.values() if not p.done()),
                "sends_by_runner": dict(self._sends_by),
            }
        )

    async def result(self, request: web.Request) -> web.Response:
        assert self.classroom is not None, "enroll first"
        classroom = self.classroom
        end = self._last_answer if classroom.finished.is_set() else time.perf_counter()
        return web.json_response(
            {
                "latencies": classroom.latencies,
                "seconds": end - self._began,
                "finished": classroom.finished.is_set(),
                # Every student took the scripted path: the course was played, not refused.
                "script_followed": all(s.sent == self._expected for s in classroom.students),
            }
        )

    async def probe(self, request: web.Request) -> web.Response:
        """Seconds from this call until each bot answered a new student from a runner other
        than `victim` (a bot still answering from the victim is asked again)."""
        body = await request.json()
        started = time.perf_counter()
        timeout = float(body.get("timeout", 60))
        victim = body["victim"]

        users: list[tuple[int, int]] = []

        async def until_answered(bot_id: int) -> float | None:
            while time.perf_counter() - started < timeout:
                user = next(self._probe_users)
                users.append((bot_id, user))
                answered = self._probes[(bot_id, user)] = asyncio.get_running_loop().create_future()
                self.api.push_text(bot_id, user, f"/start {self._payloads[bot_id]}")
                remaining = timeout - (time.perf_counter() - started)
                try:
                    runner = await asyncio.wait_for(answered, max(remaining, 0.01))
                except TimeoutError:
                    return None
                finally:
                    self._probes.pop((bot_id, user), None)
                if runner != victim:
                    return time.perf_counter() - started
            return None

        seconds = await asyncio.gather(*(until_answered(b) for b in body["bots"]))
        return web.json_response({"seconds": seconds, "users": users})


class _Superseded(Exception):
    """A newer getUpdates for the same token ended this one."""


def _error(code: int, description: str) -> web.Response:
    body = {"ok": False, "error_code": code, "description": description}
    return web.Response(text=json.dumps(body), status=code, content_type="application/json")


async def serve(port: int) -> None:
    server = StubServer()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(f"stub Bot API on {bound}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
