from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from panel_api.schemas.common import StrictIn


class RunOut(BaseModel):
    id: int
    deployment_id: int
    course_version_id: int
    bot_id: int
    chat_id: int
    telegram_user_id: int
    username: str | None
    first_name: str | None
    status: str
    note: str | None = Field(
        description="why the bot itself ended the run, or null; `no_student_input`: it went "
        "on too long without any answer from the student (status `halted`), so the course "
        "probably loops on its own -- the course's warnings name such loops"
    )
    token_id: int | None
    current_element: str | None
    started_at: datetime
    finished_at: datetime | None
    utm: dict[str, str | None]


class ConversationLine(BaseModel):
    id: int
    element_id: str
    role: str
    text: str
    score: float | None
    maxscore: float | None
    created_at: datetime


class StudentOut(BaseModel):
    telegram_user_id: int
    username: str | None
    first_name: str | None
    last_name: str | None
    banned: bool
    runs: int
    created_at: datetime


class BanCreate(StrictIn):
    telegram_user_id: int = Field(ge=1, le=2**63 - 1)
    bot_id: int | None = Field(None, ge=1, le=2**63 - 1, description="null: all bots")
    reason: str | None = Field(None, min_length=1, max_length=500)
    stop_runs: bool = Field(True, description="also stop the user's active runs")


class BanOut(BaseModel):
    id: int
    telegram_user_id: int
    bot_id: int | None
    reason: str | None
    created_at: datetime


class BanCreated(BanOut):
    stopped_runs: int
