"""`Draft`: the mutable working copy of a run state during one `step()` call.

Handlers append effects and update fields here; `step()` freezes the result into a new
`RunState`. Keeping the mutation inside one call keeps `step()` itself pure while letting
element handlers stay short and imperative.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from engine.effects import (
    CancelWaits,
    Effect,
    Finish,
    InlineButton,
    Record,
    Schedule,
    SendMedia,
    SendText,
)
from engine.frozen import FrozenMap
from engine.model import BaseElement, Course, DialogElement, MessageElement
from engine.personal_texts import Student, facts_of, personalize
from engine.state import (
    Awaiting,
    DialogMessage,
    PendingWait,
    RevisionChain,
    RunState,
    ScoredAnswer,
    Status,
)


def text_parse_mode(element: BaseElement) -> str:
    """Telegram parse mode of an element's own texts; legacy default is Markdown."""
    return "HTML" if element.parse_mode in ("HTML", "HTML!") else "MARKDOWN"


def sendable_media(media: tuple[str, ...]) -> tuple[str, ...]:
    """Media entries that are http(s) URLs; the loader warns about the rest ("http", "asd")
    and the engine drops them so a typo never costs the student the message itself."""
    return tuple(
        url for url in media if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc
    )


def default_link_preview(element: BaseElement) -> bool:
    """Legacy rule: previews off for a message with buttons and for dialogs, else on."""
    if element.link_preview is not None:
        return element.link_preview
    if isinstance(element, MessageElement):
        return not (element.button or element.options)
    return not isinstance(element, DialogElement)


def callback(seq: int, index: int) -> str:
    """Callback data of button `index` of the prompt numbered `seq` (short: 64-byte limit)."""
    return f"{seq}:{index}"


class Draft:
    __slots__ = (
        "again",
        "answers",
        "awaiting",
        "course",
        "current",
        "dialogs",
        "effects",
        "finished",
        "now",
        "poll_id",
        "poll_ref",
        "revision",
        "seq",
        "status",
        "student",
        "unattended",
        "waits",
    )

    def __init__(
        self, course: Course, state: RunState, now: datetime, student: Student | None = None
    ) -> None:
        self.course = course
        self.now = now
        self.student = student or Student()
        self.current: str | None = state.current
        self.awaiting: Awaiting | None = state.awaiting
        self.seq = state.seq
        self.answers: FrozenMap[str, ScoredAnswer] = state.answers
        self.dialogs: FrozenMap[str, tuple[DialogMessage, ...]] = state.dialogs
        self.revision: RevisionChain | None = state.revision
        self.waits: tuple[PendingWait, ...] = state.waits
        self.poll_ref = state.poll_ref
        self.poll_id = state.poll_id
        self.finished = state.finished
        self.status: Status | None = state.status
        self.unattended = state.unattended
        self.effects: list[Effect] = []
        # Presenting the current prompt again (engine/resume.py): no new prompt begins.
        self.again = False

    def result(self) -> tuple[RunState, list[Effect]]:
        state = RunState(
            current=self.current,
            awaiting=self.awaiting,
            seq=self.seq,
            answers=self.answers,
            dialogs=self.dialogs,
            revision=self.revision,
            waits=self.waits,
            poll_ref=self.poll_ref,
            poll_id=self.poll_id,
            finished=self.finished,
            status=self.status,
            unattended=self.unattended,
        )
        return state, self.effects

    # --- position and waiting -----------------------------------------------------------

    def move_to(self, element_id: str) -> None:
        self.current = element_id
        self.awaiting = None
        self.poll_ref = None
        self.poll_id = None

    def begin_wait(self, kind: Awaiting) -> int:
        """Start waiting for a new prompt; returns its seq (for callback data / refs). When
        the prompt is presented `again` its seq stays: the buttons already in the chat and
        the ones sent again carry the same data, and either answers it."""
        if not self.again:
            self.seq += 1
        self.awaiting = kind
        return self.seq

    def schedule(self, duration: timedelta, goto: str | None) -> None:
        """Wait for a timer; when it fires the run resumes at `goto` (None: course ends)."""
        self._wait_for_timer(self.now + duration, goto)

    def continue_later(self, target: str) -> None:
        """End this step here; the next one, due at once, enters `target` (the flow's own
        timer, see `PendingWait`)."""
        self._wait_for_timer(self.now, target, continuation=True)

    def _wait_for_timer(
        self, due_at: datetime, goto: str | None, *, continuation: bool = False
    ) -> None:
        seq = self.begin_wait("timer")
        wait = PendingWait(f"w{seq}", due_at, goto, continuation)
        self.waits = (*self.waits, wait)
        self.effects.append(Schedule(wait.wait_id, wait.due_at, wait.goto))

    def finish(self, status: Status, note: str | None = None) -> None:
        if self.waits:
            self.effects.append(CancelWaits())
            self.waits = ()
        self.effects.append(Finish(status, note))
        self.finished = True
        self.status = status
        self.awaiting = None
        self.poll_ref = None
        self.poll_id = None
        self.revision = None

    # --- messages ---------------------------------------------------------------------

    def show(
        self,
        element: BaseElement,
        text: str,
        buttons: tuple[InlineButton, ...] = (),
        *,
        score: float | None = None,
        maxscore: float | None = None,
    ) -> None:
        """Send an element's main text, with its media (as caption) when it has any."""
        text = self.personal(text, text_parse_mode(element))
        media = sendable_media(element.media)
        if media:
            self.effects.append(SendMedia(media, text, text_parse_mode(element), buttons))
        else:
            self.effects.append(
                SendText(text, text_parse_mode(element), buttons, default_link_preview(element))
            )
        self.effects.append(Record(element.id, "bot", text, score, maxscore))

    def say(self, element: BaseElement, text: str, buttons: tuple[InlineButton, ...] = ()) -> None:
        """Send a follow-up text of an element (feedback, wait_text, a question) without
        repeating its media."""
        text = self.personal(text, text_parse_mode(element))
        link_preview = True if element.link_preview is None else element.link_preview
        self.effects.append(SendText(text, text_parse_mode(element), buttons, link_preview))
        self.effects.append(Record(element.id, "bot", text))

    def personal(self, text: str, parse_mode: str | None) -> str:
        """A course text with the student's names and answers so far put in: done here, at
        step time, so what the outbox and the conversation log keep is what was sent."""
        if "{" not in text:
            return text
        return personalize(text, facts_of(self.student, self.answers), parse_mode)

    def record_user(self, element_id: str, text: str) -> None:
        """Log a user action (button press) that is not an answer."""
        self.effects.append(Record(element_id, "user", text))

    def answer(
        self,
        element_id: str,
        text: str,
        score: float | None = None,
        maxscore: float | None = None,
    ) -> None:
        """Log the student's answer and keep it as the element's latest answer."""
        self.effects.append(Record(element_id, "user", text, score, maxscore, answer=True))
        self.answers = self.answers.set(element_id, ScoredAnswer(text, score, maxscore))
