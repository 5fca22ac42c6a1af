"""Bot API methods asking aiogram to read back only what the runtime uses.

Updates come back as plain JSON objects (`LeanGetUpdates`): the runtime stores each as
received and reads the few fields a course uses itself (adapters/telegram/updates.py).

A send answers with the whole Message, and aiogram validates all of it into nested models
(for a poll: every option, its voters, the poll's settings): that cost more CPU than
building and sending the request (docs/benchmarks.md). The runtime reads one thing from the
answer, a poll's id (it becomes the engine's `PollSent`), so these subclasses of aiogram's
methods send exactly the same request and parse the answer into `Sent` instead.
"""

from __future__ import annotations

from typing import Any

from aiogram.methods import (
    GetUpdates,
    SendAudio,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendPoll,
    SendVideo,
)
from pydantic import BaseModel, ConfigDict


class SentPoll(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str


class SentFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file_id: str


class Sent(BaseModel):
    """A message Telegram accepted, as far as the runtime cares: its poll, and the file id
    of media it fetched (sent again by id, Telegram need not download it anew)."""

    model_config = ConfigDict(extra="ignore")

    message_id: int
    poll: SentPoll | None = None
    photo: list[SentFile] | None = None  # sizes, smallest first
    video: SentFile | None = None
    audio: SentFile | None = None

    @property
    def file_id(self) -> str | None:
        if self.photo:
            return self.photo[-1].file_id
        media = self.video or self.audio
        return media.file_id if media is not None else None


class LeanSendMessage(SendMessage):
    __returning__ = Sent  # type: ignore[assignment]  # the lean answer, on purpose


class LeanSendPhoto(SendPhoto):
    __returning__ = Sent  # type: ignore[assignment]  # the lean answer, on purpose


class LeanSendVideo(SendVideo):
    __returning__ = Sent  # type: ignore[assignment]  # the lean answer, on purpose


class LeanSendAudio(SendAudio):
    __returning__ = Sent  # type: ignore[assignment]  # the lean answer, on purpose


class LeanSendPoll(SendPoll):
    __returning__ = Sent  # type: ignore[assignment]  # the lean answer, on purpose


class LeanSendMediaGroup(SendMediaGroup):
    __returning__ = list[Sent]


class LeanGetUpdates(GetUpdates):
    __returning__ = list[dict[str, Any]]
