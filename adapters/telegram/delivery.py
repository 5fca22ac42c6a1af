"""Deliver a chat's outbox: Bot API calls, LLM calls, and the events their results produce.

Rows are taken in id order and each is marked sent (through the journal, batched with other
chats' work) after Telegram accepted it and before the chat's next row goes out, so a crash
re-sends rather than loses (at-least-once, with a window of one call). Recording a row also
tells whether it was still pending: when a stop dropped the run's messages meanwhile, the
rows read along with it are let go and the outbox read again, so after a stop at most the
one message already on its way still reaches the student. A poll's Telegram id
and an LLM's reply go back into the engine in the same transaction that marks the row sent.
Content Telegram refuses (a Markdown typo, a media URL it cannot fetch) falls back to plain
text instead of silently dropping the lesson. While an LLM or speech-to-text call runs, the
chat shows "typing…", refreshed because Telegram clears a chat action after about 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.methods import SendChatAction, SendVoice, TelegramMethod
from aiogram.types import BufferedInputFile
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.llm import LLMClient, LLMError
from adapters.payments import AlreadyPaid, PaymentError, PaymentService
from adapters.telegram.lean_methods import sent_poll_id
from adapters.telegram.media_memory import MediaMemory
from adapters.telegram.render import RenderableEffect, render
from adapters.telegram.sender import BotSender, ChatBlocked
from engine.effects import (
    AskLLM,
    InlineButton,
    SendAudio,
    SendMedia,
    SendPoll,
    SendText,
    Speech,
)
from engine.events import Event, LLMFailed, LLMReply, PollSent, Voice
from engine.progress import current_element
from engine.state import RunState
from observability.logs import bind_log_ids
from runtime import effect_codec
from runtime.course_cache import CourseCache
from runtime.effect_codec import OfferPayment, TranscribeVoice
from runtime.hosted_bot import HostedBot
from runtime.journal import Journal
from runtime.journal_items import OutboxRow
from runtime.student_texts import Notice, notice_text
from storage.batch import PENDING_LIMIT
from storage.db import Database
from storage.repositories import outbox, runs

log = logging.getLogger(__name__)

DELIVERY_BATCH = PENDING_LIMIT  # outbox rows read per transaction
TYPING_INTERVAL_S = 4.0  # Telegram shows a chat action for about 5 s


class DeliveryPaused(Exception):
    """Telegram kept failing (network/5xx after retries): try this chat again later."""


class EventWaiting(Exception):
    """Another producer's event waits in the chat's inbox (a teacher's stop, say): it is
    applied before the rest of the chat's messages go out."""


class Delivery:
    def __init__(
        self,
        db: Database,
        bot: HostedBot,
        api_bot: Bot,
        sender: BotSender,
        courses: CourseCache,
        llm: LLMClient | None,
        journal: Journal,
        db_slots: asyncio.Semaphore,
        payments: PaymentService | None = None,
        *,
        typing_interval_s: float = TYPING_INTERVAL_S,
        event_waiting: Callable[[int], bool] = lambda chat_id: False,
    ) -> None:
        """`db_slots` bounds the sessions this process's delivery and database lanes hold at
        once (below the pool's size). `event_waiting(chat_id)`: an event waits in the chat's
        inbox, to apply before the next message goes out."""
        self._db = db
        self._journal = journal
        self._db_slots = db_slots
        self._bot = bot
        self._api_bot = api_bot
        self._sender = sender
        self._courses = courses
        self._llm = llm
        # chat -> rows queued by results fed back during its batch (one worker per chat)
        self._queued_meanwhile: dict[int, int] = {}
        self._payments = payments
        self._typing_interval_s = typing_interval_s
        self._media = MediaMemory(bot, self._session, courses)
        self._event_waiting = event_waiting

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        async with self._db_slots, self._db.tenant(self._bot.account_id) as session:
            yield session

    async def deliver_chat(self, chat_id: int, first: Sequence[OutboxRow] | None = None) -> None:
        """Send everything pending for the chat, in order, including what sending produces.

        `first`: the oldest pending rows, as the caller's just-committed transaction read
        them (handling an update); otherwise they are read here. Raises EventWaiting, with
        rows still pending, when an event for the chat must be applied first."""
        account_id = self._bot.account_id
        while True:
            rows, first = first, None
            if rows is None:
                async with self._session() as session:
                    rows = await outbox.pending_for_chat(
                        session, account_id, self._bot.bot_id, chat_id, limit=DELIVERY_BATCH
                    )
            if not rows:
                return
            self._queued_meanwhile[chat_id] = 0
            current = True
            try:
                for row in rows:
                    current = await self._deliver(row)
                    if not current:
                        break  # the rows read with it may be dropped too: read them again
                    if self._event_waiting(chat_id):
                        raise EventWaiting
            finally:
                queued = self._queued_meanwhile.pop(chat_id, 0)
            # A short batch was all there was, unless a result fed back into the run (an LLM
            # reply, a transcript) queued more; asking again anyway cost a transaction on
            # every update (docs/benchmarks.md). Rows others queue come with a kick.
            if current and len(rows) < DELIVERY_BATCH and not queued:
                return

    async def _deliver(self, row: OutboxRow) -> bool:
        """Send one row and record the outcome; False when the row turned out to be no
        longer pending (a stop dropped it while it was on its way)."""
        bind_log_ids(run_id=row.run_id)  # we run in the chat's worker task
        try:
            effect = effect_codec.decode(row.payload)
        except (KeyError, TypeError, ValueError) as exc:
            # Not something this version wrote: give it up rather than retry it forever.
            log.error("bot %s: unreadable outbox row %s dropped", self._bot.bot_id, row.id)
            return await self._give_up(row, f"unreadable payload: {type(exc).__name__}", final=True)
        if isinstance(effect, AskLLM):
            return await self._finish(row, await self._ask(row, effect))
        if isinstance(effect, TranscribeVoice):
            return await self._finish(row, await self._transcribe(row, effect))
        if isinstance(effect, OfferPayment):
            offer = await self._payment_offer(row, effect)
            if offer is None:
                return await self._finish(row, None)
            effect = offer
        results: list[object] | None
        bulk = effect_codec.is_bulk(row.payload)
        try:
            results = await self._send_all(row.chat_id, await self._methods(row, effect), bulk=bulk)
        except ChatBlocked:
            return await self._give_up(row, outbox.BLOCKED_ERROR, final=True)
        except TelegramBadRequest as exc:
            log.warning("bot %s: Telegram refused outbox %s: %s", self._bot.bot_id, row.id, exc)
            if isinstance(effect, SendMedia | SendAudio):
                await self._media.note_refusal(row.run_id, effect.urls, exc.message)
            fallback = await self._send_fallback(row, effect, bulk=bulk)
            if fallback is None:
                return True  # given up on (recorded there)
            results = fallback
        except Exception as exc:
            await self._give_up(row, f"{type(exc).__name__}: {exc}", final=False)
            raise DeliveryPaused(str(exc)) from exc
        files: tuple[tuple[str, str], ...] = ()
        if isinstance(effect, SendMedia | SendAudio):
            files = await self._media.learn(effect.urls, results)
        event: Event | None = None
        if isinstance(effect, SendPoll):
            poll_id = next((i for result in results if (i := sent_poll_id(result))), None)
            if poll_id is not None:
                event = PollSent(poll_id, effect.ref)
        return await self._finish(row, event, files)

    async def _methods(
        self, row: OutboxRow, effect: RenderableEffect
    ) -> Sequence[TelegramMethod[Any]]:
        """The Bot API calls for an effect: a reply to be spoken is synthesised first, media
        Telegram fetched for this bot before go by file id."""
        if isinstance(effect, SendText) and effect.voice is not None:
            audio = await self._speak(row, effect.text, effect.voice)
            if audio is not None:
                voice = BufferedInputFile(audio, filename="reply.ogg")
                return [SendVoice(chat_id=row.chat_id, voice=voice)]
        if isinstance(effect, SendMedia | SendAudio):
            return render(row.chat_id, effect, await self._media.file_ids())
        return render(row.chat_id, effect)

    async def _speak(self, row: OutboxRow, text: str, speech: Speech) -> bytes | None:
        """The reply as OGG/Opus, or None (the text goes instead: a provider without speech
        must never leave the student without an answer)."""
        if self._llm is None:
            return None
        try:
            async with self._typing(row.chat_id, at_once=True):
                return await self._llm.speak(self._bot.account_id, text, speech)
        except LLMError as exc:
            log.warning("bot %s: reply sent as text, no speech: %s", self._bot.bot_id, exc)
            return None

    async def _send_all(
        self, chat_id: int, methods: Sequence[TelegramMethod[Any]], *, bulk: bool = False
    ) -> list[object]:
        """`bulk`: a broadcast's message, sent after course traffic (the sender's bulk lane)."""
        return [await self._sender.call(chat_id, method, bulk=bulk) for method in methods]

    async def _send_fallback(
        self, row: OutboxRow, effect: object, *, bulk: bool
    ) -> list[object] | None:
        """Words instead of what Telegram refused, formatted as the course wrote them where
        that may be what still goes through, else plain; None when even that failed."""
        fallbacks = _fallbacks(effect)
        if not fallbacks:
            await self._give_up(row, "refused by Telegram", final=True)
            return None
        for fallback in fallbacks:
            try:
                return await self._send_all(row.chat_id, render(row.chat_id, fallback), bulk=bulk)
            except TelegramBadRequest:
                continue  # its formatting was refused too: the plain words next
            except Exception as exc:
                await self._give_up(row, f"fallback failed: {type(exc).__name__}", final=True)
                return None
        await self._give_up(row, "fallback refused by Telegram", final=True)
        return None

    @contextlib.asynccontextmanager
    async def _typing(self, chat_id: int, *, at_once: bool) -> AsyncIterator[None]:
        """Keep "typing…" on screen for as long as the block runs (an LLM call can take
        longer than the ~5 s Telegram shows one chat action for), and no longer: the refresh
        stops, and a refresh still queued is withdrawn, as soon as the block ends."""
        refresher = asyncio.create_task(self._keep_typing(chat_id, at_once=at_once))
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    async def _keep_typing(self, chat_id: int, *, at_once: bool) -> None:
        action = SendChatAction(chat_id=chat_id, action=ChatAction.TYPING)
        if not at_once:
            await asyncio.sleep(self._typing_interval_s)
        while True:
            try:
                await self._sender.call(chat_id, action)
            except Exception as exc:  # only cosmetic: it must never disturb the call it covers
                log.debug("bot %s: typing indicator stopped: %s", self._bot.bot_id, exc)
                return
            await asyncio.sleep(self._typing_interval_s)

    async def _ask(self, row: OutboxRow, effect: AskLLM) -> Event:
        if self._llm is None:
            return LLMFailed("no LLM is configured")
        try:
            # The engine's Typing effect has just been sent: the first refresh can wait.
            async with self._typing(row.chat_id, at_once=False):
                reply = await self._llm.complete(
                    self._bot.account_id, effect.model, list(effect.messages), effect.temperature
                )
        except LLMError as exc:
            log.warning("bot %s: LLM call failed: %s", self._bot.bot_id, exc)
            return LLMFailed(str(exc), exc.notice, exc.final)
        return LLMReply(reply)

    async def _transcribe(self, row: OutboxRow, job: TranscribeVoice) -> Event:
        """Voice -> text through the account's speech-to-text; `Voice(None)` (the engine
        then asks the student to type) when there is none or it fails."""
        if self._llm is None:
            return Voice(None)
        try:
            language = await self._dialog_language(row)
            file = await self._api_bot.get_file(job.file_id)
            if file.file_path is None:
                return Voice(None)
            audio = await self._api_bot.download_file(file.file_path)
            if audio is None:
                return Voice(None)
            async with self._typing(row.chat_id, at_once=True):
                text = await self._llm.transcribe(
                    self._bot.account_id, audio.read(), "voice.ogg", language
                )
        except (LLMError, TelegramAPIError, TelegramNetworkError, OSError) as exc:
            log.warning("bot %s: voice transcription failed: %s", self._bot.bot_id, exc)
            return Voice(None)
        return Voice(text)

    async def _payment_offer(self, row: OutboxRow, job: OfferPayment) -> SendText | None:
        """The checkout link as a message, or None when the student already has access
        (the paid-access hook starts the course then)."""
        language = job.language_code
        if self._payments is None:
            return SendText(notice_text(Notice.PAYMENT_UNAVAILABLE, language), None)
        try:
            link = await self._payments.create_payment(
                self._bot.account_id,
                job.deployment_id,
                job.telegram_user_id,
                row.chat_id,
                self._bot.bot_id,
                token_id=job.token_id,
            )
        except AlreadyPaid:
            return None
        except PaymentError as exc:
            log.warning(
                "bot %s: no checkout for deployment %s: %s",
                self._bot.bot_id,
                job.deployment_id,
                exc.code,
            )
            return SendText(notice_text(Notice.PAYMENT_UNAVAILABLE, language), None)
        price = f"{link.amount} {link.currency}"
        text = notice_text(Notice.PAYMENT_REQUIRED, language).format(price=price)
        button = InlineButton(
            notice_text(Notice.PAYMENT_BUTTON, language), url=link.confirmation_url
        )
        return SendText(text, None, (button,))

    async def _dialog_language(self, row: OutboxRow) -> str | None:
        account_id = self._bot.account_id
        async with self._session() as session:
            run = await runs.get_active(session, account_id, self._bot.bot_id, row.chat_id)
            if run is None:
                return None
            course = await self._courses.get(session, account_id, run.course_version_id)
        element = current_element(course, RunState.from_row(run.state))
        return getattr(element, "transcription_language", None)

    async def _finish(
        self, row: OutboxRow, event: Event | None, files: tuple[tuple[str, str], ...] = ()
    ) -> bool:
        """Mark the row sent and feed `event` (poll id, LLM reply) to its run, atomically,
        keeping the file ids of its media; False when the row was no longer pending."""
        outcome = await self._journal.sent(self._bot, row, event, files)
        if row.chat_id in self._queued_meanwhile:
            self._queued_meanwhile[row.chat_id] += outcome.queued
        return outcome.current

    async def _give_up(self, row: OutboxRow, error: str, *, final: bool) -> bool:
        """Record a failed attempt; False when the row was no longer pending."""
        async with self._session() as session:
            return await outbox.mark_failed(
                session, self._bot.account_id, row.id, error=error[:500], final=final
            )


def _fallbacks(effect: object) -> list[SendText]:
    """What to send instead of an effect Telegram refused, best first: the words with links
    instead of unfetchable media (formatted as written, then plain), with the buttons kept
    (a lesson waiting for a button must still get one). A refused text is sent plain: its
    formatting is the likely reason."""
    if isinstance(effect, SendText):
        return [SendText(effect.text, None, effect.buttons, effect.link_preview)]
    if isinstance(effect, SendMedia | SendAudio):
        buttons = effect.buttons if isinstance(effect, SendMedia) else ()
        plain = SendText(_with_links(effect.caption, effect.urls, None), None, buttons)
        if effect.parse_mode is None or not effect.caption:
            return [plain]
        mode = effect.parse_mode
        return [SendText(_with_links(effect.caption, effect.urls, mode), mode, buttons), plain]
    return []


def _with_links(caption: str | None, urls: tuple[str, ...], parse_mode: str | None) -> str:
    links = [html.escape(url) if parse_mode == "HTML" else url for url in urls]
    return "\n".join([*([caption] if caption else []), *links])
