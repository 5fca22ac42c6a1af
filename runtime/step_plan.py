"""What an update or an engine step turns into, decided without I/O.

`react` says what a Telegram update asks of its chat, and `plan_step` which rows an engine
step writes; the journal writes those rows for the work of many chats at once, with the
set-based statements of storage/batch.py (runtime/journal_batch.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.effects import CancelWaits, Effect, Finish, Record, Schedule, SendText
from engine.events import Event, Resume, Text
from engine.state import RunState
from runtime import effect_codec
from runtime.effect_codec import TranscribeVoice
from runtime.inbound import Command, Confirmation, Inbound, StartRequest, VoiceNote
from runtime.student_texts import Notice, notice_text
from storage.models import RunStatus
from storage.repositories.conversation import Line


class StepWrites(NamedTuple):
    """The rows one engine step produces for its run, in the order they must be written.

    `cancel_waits` cancels the run's timers pending before this step; `schedules` are the
    timers this step leaves pending (a CancelWaits after a Schedule of the same step already
    dropped that Schedule here, so "cancel, then add" is always the right order).
    `finish_note` says why the engine ended the run (`halted`), for the teacher. `element`
    is where the run now stands (None: nowhere yet), kept beside the state for the panel.
    `hooks`: what the step tells the account's webhooks, (event type, its data about the
    step), in order; the run's own facts are added by the journal.
    """

    state: dict[str, Any]
    element: str | None
    lines: tuple[Line, ...]
    messages: tuple[dict[str, Any], ...]
    cancel_waits: bool
    schedules: tuple[Schedule, ...]
    finish_status: str | None
    finish_note: str | None
    hooks: tuple[tuple[str, dict[str, Any]], ...] = ()


def hook_of(record: Record) -> tuple[str, dict[str, Any]] | None:
    """The webhook event a conversation line stands for: the student's answer, or a test's
    total score (the only bot line with a score); None for the rest."""
    if record.role == "user" and record.answer:
        return "answer.recorded", {
            "element_id": record.element_id,
            "answer": record.text,
            "score": record.score,
            "maxscore": record.maxscore,
        }
    if record.role == "bot" and record.maxscore is not None:
        return "test.scored", {
            "element_id": record.element_id,
            "score": record.score,
            "maxscore": record.maxscore,
        }
    return None


def plan_step(state: RunState, effects: Iterable[Effect]) -> StepWrites:
    lines: list[Line] = []
    messages: list[dict[str, Any]] = []
    schedules: list[Schedule] = []
    hooks: list[tuple[str, dict[str, Any]]] = []
    cancel = False
    finish: Finish | None = None
    for effect in effects:
        if isinstance(effect, Record):
            lines.append(
                Line(effect.element_id, effect.role, effect.text, effect.score, effect.maxscore)
            )
            hook = hook_of(effect)
            if hook is not None:
                hooks.append(hook)
        elif isinstance(effect, Schedule):
            schedules.append(effect)
        elif isinstance(effect, CancelWaits):
            schedules.clear()
            cancel = True
        elif isinstance(effect, Finish):
            finish = effect
        elif effect_codec.is_outgoing(effect):
            messages.append(effect_codec.encode(effect))
    return StepWrites(
        state.to_dict(),
        state.current,
        tuple(lines),
        tuple(messages),
        cancel,
        tuple(schedules),
        RunStatus(finish.status).value if finish is not None else None,
        finish.note if finish is not None else None,
        tuple(hooks),
    )


# ---- what an update asks for -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enroll:
    """`/start`: enrollment decides (tokens, bans, the chat's current run)."""

    request: StartRequest


@dataclass(frozen=True, slots=True)
class Advance:
    """Feed the event to the chat's active run."""

    event: Event


@dataclass(frozen=True, slots=True)
class Reply:
    """Queue these messages for the chat, outside any run step (`run_bound`: for the run)."""

    messages: tuple[dict[str, Any], ...]
    run_bound: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """A student command or a press on its buttons: answered by runtime/commands.py, never
    fed to the course."""

    action: Command | Confirmation


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do (a poll answer or a course's button pressed with no course running)."""


Reaction = Enroll | Advance | Reply | Answer | Ignore


def react(inbound: Inbound, has_active_run: bool) -> Reaction:
    """The runtime's answer to an update, given whether its chat has an active run."""
    action = inbound.action
    if isinstance(action, StartRequest):
        return Enroll(action)
    if isinstance(action, Command | Confirmation):
        return Answer(action)
    if isinstance(action, VoiceNote):
        if not has_active_run:
            return Ignore()
        # Speech-to-text is slow: it runs after commit, from the outbox (see delivery).
        return Reply((effect_codec.encode(TranscribeVoice(action.file_id)),), run_bound=True)
    if has_active_run:
        return Advance(action)
    if isinstance(action, Text):
        return _notice(Notice.NO_ACTIVE_RUN, inbound)
    if isinstance(action, Resume):  # "continue the course" (runtime/resume_button.py)
        return _notice(Notice.NOTHING_TO_CONTINUE, inbound)
    return Ignore()


def _notice(notice: Notice, inbound: Inbound) -> Reply:
    text = notice_text(notice, inbound.student.language_code)
    return Reply((effect_codec.encode(SendText(text, None)),))
