"""`coursebot` command line: up | runner | panel | migrate | validate | play |
import-profochatbot.

`up` is the main job: it brings up the stores (embedded ones when no URLs are configured),
migrates, then serves the Telegram runtime and the panel in one asyncio process. `runner`
(bots, timers, delivery; /health and /metrics on COURSEBOT_RUNNER_PORT) and `panel` (API,
pages, webhooks; no bots) split that job over processes: any number of each against one
DATABASE_URL and REDIS_URL with one COURSEBOT_SECRET_KEY (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

from observability.logs import configure_logging
from storage.config import Settings, setting_lines

if TYPE_CHECKING:  # imported when needed: embedded servers are not always started
    from storage.embedded import EmbeddedServices

log = logging.getLogger("coursebot")

#: Exit code of a process whose port is taken (argparse's usage errors are 2).
PORT_BUSY = 3


class PortBusy(Exception):
    """The address to serve on is taken or not ours to take."""


def bind_port(host: str, port: int) -> socket.socket:
    """The listening address, taken before anything else starts: a busy port is then one
    line and an exit code, not a traceback after the embedded servers came up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortBusy(exc.strerror or str(exc)) from None
    sock.set_inheritable(True)
    return sock


def _resolve_stores(
    settings: Settings, *, announce: bool
) -> tuple[Settings, EmbeddedServices | None]:
    """Fill in DATABASE_URL / REDIS_URL from embedded servers when they are not configured."""
    if settings.database_url and settings.redis_url:
        return settings, None
    from storage.embedded import start_embedded

    services = start_embedded(settings.data_dir)
    if announce:
        print(
            f"No DATABASE_URL/REDIS_URL set: started embedded PostgreSQL and Redis "
            f"under {settings.data_dir}",
            flush=True,
        )
    resolved = settings.replace(
        database_url=settings.database_url or services.database_url,
        redis_url=settings.redis_url or services.redis_url,
    )
    return resolved, services


async def _serve(settings: Settings, started_at: float, role: str, sock: socket.socket) -> None:
    """Build and run one process; SIGTERM or Ctrl-C stops it (uvicorn's handlers), and
    stopping hands its bot leases back at once."""
    import uvicorn

    from process import Role, build_process, server_config

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            """Ours, not uvicorn's: uvicorn re-raises SIGTERM once it has served, which
            would kill the process before it handed its bot leases back."""
            yield

    kind = Role(role)
    process = await build_process(settings, kind)
    config = server_config(process.app, settings, kind)
    server = Server(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, partial(setattr, server, "should_exit", True))
    await process.start()
    try:
        serve_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serve_task.done():
            await asyncio.sleep(0.05)
        if server.started:
            base = f"http://{config.host}:{config.port}"
            panel = f"panel {base}/ (API at {base}/docs), " if kind.serves_panel else ""
            print(
                f"coursebot{'' if kind is Role.UP else ' ' + kind.value} is up in "
                f"{time.monotonic() - started_at:.1f}s: "
                f"{panel}health {base}/health. Press Ctrl-C to stop.",
                flush=True,
            )
        await serve_task
    finally:
        await process.stop()


def _cmd_serve(settings: Settings, role: str) -> int:
    from process import Role, listening_port

    started_at = time.monotonic()
    port = listening_port(settings, Role(role))
    try:
        sock = bind_port(settings.panel_host, port)
    except PortBusy as exc:
        setting = "COURSEBOT_RUNNER_PORT" if Role(role) is Role.RUNNER else "COURSEBOT_PORT"
        print(
            f"coursebot: cannot listen on {settings.panel_host}:{port} ({exc}); is another "
            f"coursebot running? Stop it or choose another port with {setting}.",
            file=sys.stderr,
            flush=True,
        )
        return PORT_BUSY
    settings, services = _resolve_stores(settings, announce=True)
    try:
        asyncio.run(_serve(settings, started_at, role, sock))
    except KeyboardInterrupt:
        pass
    finally:
        if services is not None:
            services.stop()
        print("coursebot stopped.", flush=True)
    return 0


def _cmd_migrate(settings: Settings) -> int:
    from storage.migrate import upgrade_to_head

    settings, services = _resolve_stores(settings, announce=True)
    try:
        asyncio.run(upgrade_to_head(settings.database_url or ""))
    finally:
        if services is not None:
            services.stop()
    print("database is at the latest migration.")
    return 0


def settings_help() -> str:
    """Every setting `up` reads, with its default and meaning, from the settings model."""
    rows = list(setting_lines())
    width = max(len(name) for name, _, _ in rows)
    lines = ["settings (environment variables):"]
    for name, default, meaning in rows:
        lines.append(f"  {name:<{width}}  {meaning} (default: {default})")
    return "\n".join(lines)


def _cmd_play(settings: Settings, argv: list[str]) -> int:
    from courses.cli import play_main
    from courses.llm import chat_model_for

    # The platform's model name overrides the course's only when the operator set one.
    model = settings.llm_model if "llm_model" in settings.model_fields_set else None
    chat, description = chat_model_for(settings.llm_base_url, settings.llm_api_key, model)
    return play_main(argv, chat=chat, chat_description=description)


@contextmanager
def _stores(settings: Settings) -> Iterator[Settings]:
    """Settings with reachable stores (embedded ones if unset), stopped on the way out."""
    settings, services = _resolve_stores(settings, announce=True)
    try:
        yield settings
    finally:
        if services is not None:
            services.stop()


def build_parser() -> argparse.ArgumentParser:
    """The command line, apart from running it: the deployment artefacts' test checks every
    command a Dockerfile, compose file or manifest names against it."""
    parser = argparse.ArgumentParser(prog="coursebot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "up",
        help="run migrations, the Telegram runtime and the panel",
        description="Run migrations, the Telegram runtime and the panel in one process.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_parser(
        "runner",
        help="run the Telegram runtime only: bots, timers, delivery (any number of them)",
        description="Run the Telegram runtime: the bots this runner's leases name, timers "
        "and delivery; /health and /metrics on COURSEBOT_RUNNER_PORT.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_parser(
        "panel",
        help="run the panel only: API, web pages, Telegram and YooKassa webhooks",
        description="Run the panel: API, web pages, Telegram and YooKassa webhooks; no bots.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_parser("migrate", help="upgrade the database schema to the latest migration")
    sub.add_parser("validate", help="validate course YAML files", add_help=False)
    sub.add_parser("play", help="play a course in the terminal", add_help=False)
    sub.add_parser(
        "import-profochatbot",
        help="move an old ProfoChatBot installation into an account",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)

    if args.command == "validate":
        from courses.cli import validate_main

        return validate_main(rest)
    if rest and args.command not in ("play", "import-profochatbot"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "play":  # the terminal is the player's: no log lines on it
        return _cmd_play(settings, rest)
    try:
        configure_logging(settings.log_level, settings.log_format)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command in ("up", "runner", "panel"):
        return _cmd_serve(settings, args.command)
    if args.command == "import-profochatbot":
        from legacy_import.cli import import_main

        return import_main(rest, stores=partial(_stores, settings))
    return _cmd_migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
