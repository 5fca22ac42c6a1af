"""A run played in memory: the adapter's side of the contract (engine/README.md) without
Telegram, with simulated time.

`Playthrough` feeds events to `step()` and does with the effects what the adapter does:
reports the id of every poll sent, hands `AskLLM` to a chat model when it has one, and lets
time pass until a timer is due when that timer fires. It remembers what the chat offers to
answer (the newest buttons and poll), and `drive` plays it to the end with a student who
answers whatever the run waits for. The terminal player (courses/player.py), the panel's
preview, the tests' scripted student and the engine benchmark are this, each with its own
student and presentation (`show` sees every effect, in order, as it happens). Pure: no
I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from engine import flow
from engine.draft import Draft
from engine.effects import AskLLM, Effect, InlineButton, SendMedia, SendPoll, SendText
from engine.events import Event, LLMFailed, LLMReply, PollAnswer, PollSent, Start, TimerFired
from engine.model import Course
from engine.outcomes import Goto
from engine.personal_texts import Student
from engine.progress import Waiting, waiting_for
from engine.state import RunState
from engine.step import step

Show = Callable[[Effect], None]
"""Presents one effect as it happens (prints it, adds it to a transcript...)."""
ChatModel = Callable[[AskLLM], LLMReply | LLMFailed]
"""Answers the engine's request to the chat model."""
Answer = Callable[[Waiting], Event | None]
"""The student: the event that answers what the run waits for (None: nothing to give)."""
Ending = Literal["finished", "stuck", "too_long"]


def poll_id_of(ref: str) -> str:
    """The poll id a playthrough reports for the poll sent as `ref` (Telegram gives its own)."""
    return f"poll-{ref}"


def _no_show(effect: Effect) -> None:
    """Nobody watches the chat: the caller reads the effects `send` returns."""


class Playthrough:
    """One student's run of `course`, starting at `now` (simulated: it moves only when a
    timer fires, to that timer's due time). Without a `chat_model` an `AskLLM` stays
    unanswered: the caller sends `LLMReply` / `LLMFailed` itself. `student`: the names
    personal texts put in."""

    def __init__(
        self,
        course: Course,
        now: datetime,
        *,
        show: Show = _no_show,
        chat_model: ChatModel | None = None,
        student: Student | None = None,
    ) -> None:
        self.course = course
        self.student = student
        self.now = now
        self.state = RunState.new()
        self.show = show
        self.chat_model = chat_model
        self.fed: list[tuple[Event, datetime]] = []
        """Every event fed to `step()`, with the time it was fed at, in order."""
        self.buttons: tuple[InlineButton, ...] = ()
        """The buttons of the newest message that had any."""
        self.poll: SendPoll | None = None
        """The newest poll sent."""

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def callbacks(self) -> tuple[InlineButton, ...]:
        """The newest buttons that answer the run (not links)."""
        return tuple(button for button in self.buttons if button.data is not None)

    def poll_answer(self, option_ids: tuple[int, ...]) -> PollAnswer:
        """The student's answer to the poll the run waits for."""
        return PollAnswer(self.state.poll_id or "", option_ids)

    def waiting_for(self) -> Waiting:
        return waiting_for(self.state)

    def send(self, event: Event) -> list[Effect]:
        """Feed `event`, then what the adapter would feed after it (poll ids, the chat
        model's replies); every effect that came out, in order."""
        effects: list[Effect] = []
        queue: deque[Event] = deque([event])
        while queue:
            event = queue.popleft()
            self._let_time_pass(event)
            self.fed.append((event, self.now))
            self.state, produced = step(self.course, self.state, event, self.now, self.student)
            effects.extend(self._handle(produced, queue))
        return effects

    def start_at(self, element_id: str) -> list[Effect]:
        """Begin the run at `element_id` instead of the first element, as if the flow had
        gone there (the panel's simulator tries a course from any element); an unknown id
        or a run already begun starts nothing."""
        if self.state.current is not None or self.finished or element_id not in self.course:
            return []
        ctx = Draft(self.course, self.state, self.now, self.student)
        flow.proceed(ctx, Goto(element_id))
        self.state, produced = ctx.result()
        queue: deque[Event] = deque()
        effects = self._handle(produced, queue)
        while queue:
            effects.extend(self.send(queue.popleft()))
        return effects

    def _handle(self, produced: list[Effect], queue: deque[Event]) -> list[Effect]:
        """Show `produced` and queue what the adapter would answer to it."""
        for effect in produced:
            self.show(effect)
            if isinstance(effect, SendText | SendMedia) and effect.buttons:
                self.buttons = effect.buttons
            if isinstance(effect, SendPoll):
                self.poll = effect
                queue.append(PollSent(poll_id_of(effect.ref), effect.ref))
            elif isinstance(effect, AskLLM) and self.chat_model is not None:
                queue.append(self.chat_model(effect))
        return produced

    def _let_time_pass(self, event: Event) -> None:
        """A pending timer that fires is due: the clock moves on to its due time."""
        if isinstance(event, TimerFired):
            for wait in self.state.waits:
                if wait.wait_id == event.wait_id:
                    self.now = max(self.now, wait.due_at)


def drive(playthrough: Playthrough, answer: Answer, *, max_steps: int | None = None) -> Ending:
    """Start the run if it has not started and let `answer` answer whatever it waits for
    until it finishes, `answer` has nothing to give ("stuck"), or `max_steps` events have
    been fed ("too_long": default answers can go round a loop forever; the events that
    follow an answer, poll ids and chat-model replies, may take it a little past)."""
    if playthrough.state.current is None and not playthrough.finished:
        playthrough.send(Start())
    while not playthrough.finished:
        if max_steps is not None and len(playthrough.fed) >= max_steps:
            return "too_long"
        event = answer(playthrough.waiting_for())
        if event is None:
            return "stuck"
        playthrough.send(event)
    return "finished"
