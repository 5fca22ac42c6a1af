"""`coursebot import-profochatbot --from URL --account SLUG [--dry-run] [--bot-token T]...`

runner.py dispatches here with the arguments after the sub-command and a way to reach the
stores (the embedded ones when no DATABASE_URL is set), entered only once the arguments
are good, so `--help` starts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from legacy_import.importer import AccountNotFound, ImportOptions, import_snapshot
from legacy_import.legacy_db import read_snapshot
from storage.config import Settings
from storage.crypto import Secret, load_secret_box
from storage.db import open_database


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursebot import-profochatbot",
        description=(
            "Move an old ProfoChatBot installation (either database shape) into an account: "
            "courses, bots, deployments, runs with their history, pending delays, bans and "
            "allow-lists. Running it again adds nothing."
        ),
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the old database, postgresql://user:password@host/db",
    )
    parser.add_argument("--account", required=True, metavar="SLUG", help="the account to fill")
    parser.add_argument(
        "--dry-run", action="store_true", help="do everything, print the summary, keep nothing"
    )
    parser.add_argument(
        "--bot-token",
        action="append",
        default=[],
        metavar="[NAME=]TOKEN",
        help="a bot's token when the old database has none (the monolith kept it in .env); "
        "NAME=TOKEN per old bot name, a bare TOKEN when there is one bot; repeatable",
    )
    parser.add_argument(
        "--timezone",
        default="UTC",
        metavar="TZ",
        help="the old server's time zone: its timestamps are local time (default UTC)",
    )
    parser.add_argument(
        "--legacy-account",
        type=int,
        metavar="ID",
        help="in a multi-account old database, import only this account_id",
    )
    return parser


def bot_tokens(values: Sequence[str]) -> dict[str | None, Secret]:
    """`NAME=TOKEN` by name, a bare `TOKEN` under None (a token itself has no '=')."""
    tokens: dict[str | None, Secret] = {}
    for value in values:
        name, sep, token = value.partition("=")
        if sep:
            tokens[name.strip()] = Secret(token.strip())
        else:
            tokens[None] = Secret(value.strip())
    return tokens


def import_main(
    argv: list[str],
    *,
    stores: Callable[[], AbstractContextManager[Settings]],
    write: Callable[[str], None] = print,
) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        timezone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        write(f"unknown time zone {args.timezone!r}")
        return 2
    options = ImportOptions(
        account_slug=args.account,
        timezone=timezone,
        bot_tokens=bot_tokens(args.bot_token),
        dry_run=args.dry_run,
    )
    with stores() as settings:
        try:
            return asyncio.run(_import(settings, args.source, args.legacy_account, options, write))
        except (AccountNotFound, ValueError) as exc:
            write(f"import failed: {exc}")
            return 1


async def _import(
    settings: Settings,
    source: str,
    legacy_account: int | None,
    options: ImportOptions,
    write: Callable[[str], None],
) -> int:
    snapshot = await read_snapshot(source, account_id=legacy_account)
    box = load_secret_box(settings)
    db = await open_database(settings, box)
    try:
        summary = await import_snapshot(db, box, snapshot, options, datetime.now(UTC))
    finally:
        await db.dispose()
    write(summary.table())
    return 0
