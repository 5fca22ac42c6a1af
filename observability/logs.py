"""Process logging: readable lines for a terminal, one JSON object per line for collectors.

`COURSEBOT_LOG_FORMAT=json` switches to JSON (`ts`, `level`, `logger`, `msg`, plus
`account_id` / `bot_id` / `chat_id` / `run_id` when known, and `exc` for tracebacks).

Why context variables: one process serves thousands of chats at once, and "update 42
failed" is useless without saying whose. The chat worker, the send attempt and the timer
scheduler bind the ids they know into the asyncio context, and every record logged below
them inherits the ids without threading them through every call.

Why redaction here: bot tokens travel inside Bot API URLs and a library error may quote
one; database URLs may carry passwords; a Telegram login's `hash` is a credential for as
long as the login is fresh, and an access log line keeps any URL it was sent to (the panel
never asks for one, but an old link or a hand-made request may). Every line is scrubbed by
pattern right before it is written, so no code path, ours or a library's, can put those
secrets into a log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from storage.config import LOG_FORMAT_ENV, LOG_FORMATS

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CONTEXT_FIELDS = ("account_id", "bot_id", "chat_id", "run_id")

_IDS: dict[str, ContextVar[int | None]] = {
    name: ContextVar(f"coursebot_log_{name}", default=None) for name in CONTEXT_FIELDS
}
# "<bot id>:<35 url-safe chars>": the bot id is public, the rest is the secret. No \b:
# in a Bot API URL the token follows "/bot" directly.
_BOT_TOKEN = re.compile(r"(?<!\d)(\d{3,20}):[A-Za-z0-9_-]{30,}")
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@")
# The query of a login URL (all of it: it is someone's signed login), then a `hash` field
# anywhere: `hash=...` in a query or form, `"hash": "..."` in JSON or a repr.
_LOGIN_QUERY = re.compile(r"(/(?:login|auth)/telegram\?)[^\s\"']+")
_HASH_PARAM = re.compile(r"(?<![A-Za-z0-9_])(hash=)[^&\s\"']+")
_HASH_FIELD = re.compile(r"([\"']hash[\"']\s*:\s*[\"'])[^\"']+")
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """`text` without bot-token secrets, URL passwords and Telegram login data."""
    text = _BOT_TOKEN.sub(rf"\1:{REDACTED}", text)
    text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
    text = _LOGIN_QUERY.sub(rf"\1{REDACTED}", text)
    text = _HASH_PARAM.sub(rf"\1{REDACTED}", text)
    return _HASH_FIELD.sub(rf"\1{REDACTED}", text)


def _var(name: str) -> ContextVar[int | None]:
    try:
        return _IDS[name]
    except KeyError:
        raise ValueError(f"unknown log id {name!r}; known: {', '.join(CONTEXT_FIELDS)}") from None


def bind_log_ids(**ids: int | None) -> None:
    """Attach ids to everything the current task logs from now on.

    Only for code that runs in a task of its own (a chat worker, one send attempt): a task
    works on a copy of the context it was created in, so the ids end with the task. A
    long-lived task (the timer scheduler) must use `log_context`, which restores them.
    """
    for name, value in ids.items():
        var = _var(name)
        if var.get() != value:  # setting copies the context: skip it when nothing changes
            var.set(value)


@contextmanager
def log_context(**ids: int | None) -> Iterator[None]:
    """Attach ids to records logged inside the block; the previous ids come back after."""
    tokens = [(var, var.set(value)) for var, value in ((_var(n), v) for n, v in ids.items())]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _StampIds(logging.Filter):
    """Copies the context's ids onto the record when it is emitted (in the logging task),
    unless the call passed them explicitly with `extra=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _IDS.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


def _record_ids(record: logging.LogRecord) -> dict[str, object]:
    return {
        name: value for name in CONTEXT_FIELDS if (value := getattr(record, name, None)) is not None
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line; newlines inside messages and tracebacks stay escaped."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            **_record_ids(record),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [account_id=1 bot_id=2]: message` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(log_ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{name}={value}" for name, value in _record_ids(record).items())
        record.log_ids = f" [{ids}]" if ids else ""
        return redact(super().format(record))


def configure_logging(
    level: str = "INFO", fmt: str = "text", *, stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger (ours, aiogram's, uvicorn's) to one stream in the chosen format
    (the settings' COURSEBOT_LOG_FORMAT). Calling it again replaces the handler it installed
    before. ValueError names the bad setting.
    """
    chosen = fmt.strip().lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    level_name = level.upper()
    if level_name not in LOG_LEVELS:
        raise ValueError(
            f"COURSEBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}"
        )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(_StampIds())
    handler.coursebot_handler = True  # type: ignore[attr-defined]  # marks ours for replacing
    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, "coursebot_handler", False)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level_name)
    # Alembic announces each of its plugins at INFO on every start; the migrations it runs
    # (alembic.runtime.migration) stay visible.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return handler
