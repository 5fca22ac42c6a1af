"""Student commands: `/progress`, `/help`, `/restart` and `/stop`, in every bot's menu.

The runtime answers them itself; the course never sees them, so a student who sends
`/progress` while an `input` waits gets the progress and the input still waits. (None of
the legacy courses expects an answer that starts with one of these commands.)
`/restart` and `/stop` first ask, with the runtime's own buttons (callback data
`cmd:<r|s|c>:<run id>`, which never matches the engine's `<seq>:<index>`); the answer is
applied by the journal like any other update (runtime/journal_batch.py), and a restart is
admitted by the same rules as a new `/start` (runtime/admission.py).

Everything here is decided without I/O: the journal gathers the facts (storage/command_batch.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.effects import InlineButton, SendText
from engine.model import Course
from engine.progress import Waiting, progress, score, waiting_for
from engine.state import RunState
from runtime.inbound import Command, CommandName, Confirmation
from runtime.student_texts import Notice, notice_text
from storage.command_batch import CommandFacts

COMMANDS: tuple[CommandName, ...] = get_args(CommandName)
# The languages the menu is registered in (Telegram shows a student the menu of their
# app's language, and the default one to everyone else).
MENU_LANGUAGES = ("ru", "en")

_MENU = {
    "progress": Notice.MENU_PROGRESS,
    "help": Notice.MENU_HELP,
    "restart": Notice.MENU_RESTART,
    "stop": Notice.MENU_STOP,
}
_CONFIRM = re.compile(r"cmd:([rsc]):([0-9]{1,18})")
_CODES: dict[str, Literal["restart", "stop"] | None] = {"r": "restart", "s": "stop", "c": None}
_NEXT: dict[str, Notice] = {
    "button": Notice.NEXT_BUTTON,
    "miniapp": Notice.NEXT_MINIAPP,
    "text": Notice.NEXT_TEXT,
    "dialog": Notice.NEXT_DIALOG,
    "poll": Notice.NEXT_POLL,
    "llm": Notice.NEXT_LLM,
}


class RunView(NamedTuple):
    """The chat's active run as a command sees it (`course` None: not built here)."""

    run_id: int
    course: Course | None
    state: RunState


class Decision(NamedTuple):
    """What a command does: the messages for the chat (outside any run), and whether the
    chat's run ends (as `stopped`)."""

    messages: tuple[SendText, ...]
    stop: bool = False


def confirms_restart(action: Command | Confirmation, run_id: int | None) -> bool:
    """A press on "Yes, restart" under the question about the chat's active run `run_id`."""
    return (
        isinstance(action, Confirmation)
        and action.command == "restart"
        and run_id is not None
        and action.run_id == run_id
    )


def decide(
    action: Command | Confirmation,
    run: RunView | None,
    facts: CommandFacts | None,
    language: str | None,
    now: datetime,
) -> Decision:
    """The answer to a command or a press on its buttons. A confirmed restart of the
    chat's run never comes here (admission begins it again); one that does is about a run
    that is no longer the chat's, like any other out-of-date press."""
    if isinstance(action, Confirmation):
        if run is None or run.run_id != action.run_id or action.command == "restart":
            return Decision((say(Notice.QUESTION_EXPIRED, language),))
        if action.command == "stop":
            return Decision((say(Notice.STOPPED, language),), stop=True)
        return Decision((say(Notice.CANCELLED, language),))
    if action.name == "help":
        return Decision((help_reply(facts.help_text if facts else None, language),))
    if run is None:
        return Decision((say(Notice.NO_ACTIVE_RUN, language),))
    if action.name == "progress":
        if run.course is None:
            return Decision((say(Notice.NEXT_NOTHING, language),))
        zone = facts.time_zone if facts else "UTC"
        return Decision((progress_reply(run.course, run.state, zone, now, language),))
    return Decision((ask(action.name, run.run_id, language),))


def menu(language: str) -> list[tuple[str, str]]:
    """(command, description) of the bot's menu in `language`."""
    return [(name, notice_text(_MENU[name], language)) for name in COMMANDS]


def parse_command(text: str) -> Command | None:
    """`/progress`, `/help@SchoolBot`, `/stop now`... as a command; anything else None."""
    words = text.split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    name = words[0][1:].split("@", 1)[0].lower()
    for command in COMMANDS:
        if name == command:
            return Command(command)
    return None


def parse_confirmation(data: str) -> Confirmation | None:
    """The data of a button `ask` made, as the answer it gives; anything else None."""
    match = _CONFIRM.fullmatch(data)
    if match is None:
        return None
    return Confirmation(_CODES[match.group(1)], int(match.group(2)))


def ask(command: Literal["restart", "stop"], run_id: int, language: str | None) -> SendText:
    """The question `/restart` or `/stop` asks before it touches the run."""
    question, yes, code = (
        (Notice.CONFIRM_RESTART, Notice.YES_RESTART, "r")
        if command == "restart"
        else (Notice.CONFIRM_STOP, Notice.YES_STOP, "s")
    )
    buttons = (
        InlineButton(notice_text(yes, language), data=f"cmd:{code}:{run_id}"),
        InlineButton(notice_text(Notice.CANCEL, language), data=f"cmd:c:{run_id}"),
    )
    return SendText(notice_text(question, language), None, buttons)


def say(notice: Notice, language: str | None) -> SendText:
    return SendText(notice_text(notice, language), None)


def help_reply(help_text: str | None, language: str | None) -> SendText:
    """The teacher's help text as typed (no markup: it is plain text), else the default."""
    return SendText(help_text or notice_text(Notice.HELP_DEFAULT, language), None)


def progress_reply(
    course: Course, state: RunState, time_zone: str, now: datetime, language: str | None
) -> SendText:
    """Where the run is (step and share of the course), its score so far when something
    was scored, and what it waits for (a timer: its time in the account's zone)."""
    lines = []
    done = progress(course, state)
    if done is not None and done.total:
        step = min(done.done + 1, done.total)
        percent = round(100 * done.done / done.total)
        lines.append(
            notice_text(Notice.PROGRESS_STEP, language).format(
                step=step, total=done.total, percent=percent
            )
        )
    earned = score(course, state)
    if earned.maxscore > 0:
        lines.append(
            notice_text(Notice.PROGRESS_SCORE, language).format(
                score=_number(earned.score), maxscore=_number(earned.maxscore)
            )
        )
    lines.append(_next(waiting_for(state), time_zone, now, language))
    return SendText("\n".join(lines), None)


def _next(waiting: Waiting, time_zone: str, now: datetime, language: str | None) -> str:
    if waiting.timer is not None:
        zone = _zone(time_zone)
        due = waiting.timer.due_at.astimezone(zone)
        when = due.strftime("%H:%M")
        if due.date() != now.astimezone(zone).date():
            when = f"{due.strftime('%d.%m')} {when}"
        return notice_text(Notice.NEXT_TIMER, language).format(when=f"{when} ({zone.key})")
    return notice_text(_NEXT.get(waiting.kind, Notice.NEXT_NOTHING), language)


def _zone(name: str) -> ZoneInfo:
    """The account's zone (checked when it was set); UTC should it ever not load."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _number(value: float) -> str:
    """3.0 -> "3", 2.5 -> "2.5": scores as people write them."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
