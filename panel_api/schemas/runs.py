from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from panel_api.schemas.common import StrictIn


class RunProgressOut(BaseModel):
    """Where a run is and how it goes: what a teacher scans a list for."""

    current_element: str | None = Field(description="id of the element the run is at")
    progress_percent: int | None = Field(
        description="share of the course's elements before the current one (100: finished); "
        "null when the run is at an element its version lacks"
    )
    steps_done: int | None = Field(description="elements passed (of steps_total)")
    steps_total: int = Field(description="elements in the run's course version")
    score: float | None = Field(
        description="sum of the latest answers' scores over the scored elements; null: "
        "nothing scored yet"
    )
    maxscore: float | None = Field(description="the most `score` could be so far")
    last_activity_at: datetime = Field(description="the run's last step")
    stuck: bool = Field(
        description="active, waiting for the student (not for a timer) for longer than the "
        "account's stuck_after_minutes"
    )


class RunOut(RunProgressOut):
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
    latest_run_id: int | None = Field(description="the student's newest run")
    latest_run: RunProgressOut | None = Field(
        description="where the newest run is; null: no run yet"
    )
    stuck: bool = Field(description="one of the student's runs is stuck")


class AnswerOut(BaseModel):
    element_id: str
    text: str
    score: float | None
    maxscore: float | None
    created_at: datetime


class GradebookRunOut(RunOut):
    answers: list[AnswerOut] = Field(description="what the student answered, in order")


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
