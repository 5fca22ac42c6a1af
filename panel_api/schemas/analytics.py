from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class FunnelStepOut(BaseModel):
    position: int
    element_id: str
    type: str
    reached: int = Field(description="runs with at least one conversation line of the element")
    completed: int = Field(description="reached and went on (or finished the course here)")
    dropped: int = Field(description="ended stopped/blocked/declined with this as last element")
    in_progress: int = Field(description="still active with this as last element")
    lost: int | None = Field(
        None,
        description="runs that reached the previous element but not this one (null for the "
        "first element)",
    )
    lost_percent: float | None = Field(
        None, description="lost as a percent of the previous element's reached runs"
    )


class FunnelOut(BaseModel):
    deployment_id: int
    course_version_id: int
    runs: int
    runs_without_lines: int
    steps: list[FunnelStepOut]


class ConversionOut(BaseModel):
    key: str = Field(description="token value, '(no token)', UTM source or '(none)'")
    token_id: int | None
    label: str | None = Field(None, description="the token's label, if it has one")
    started: int
    completed: int
    rate: float | None = Field(description="completed / started")


class ConversionReport(BaseModel):
    deployment_id: int
    by_token: list[ConversionOut]
    by_utm_source: list[ConversionOut]


class CohortOut(BaseModel):
    day: datetime = Field(
        description="midnight, in the account's time zone, of the day the runs started"
    )
    started: int
    completed: int
    active: int
    dropped: int


class ScorePointOut(BaseModel):
    score: float
    maxscore: float
    runs: int


class ScoreDistributionOut(BaseModel):
    element_id: str
    runs: int
    mean_percent: float | None
    buckets: list[int] = Field(description="runs per 10-point percent band: 0-10, ..., 90-100")
    by_score: list[ScorePointOut]


class ScoresOut(BaseModel):
    deployment_id: int
    course_version_id: int
    tests: list[ScoreDistributionOut]


class DayOut(BaseModel):
    day: date = Field(description="a day in the account's time zone")
    started: int
    finished: int = Field(description="runs completed that day")
    dropped: int = Field(description="runs that ended unfinished that day")


class TimelineOut(BaseModel):
    deployment_id: int
    time_zone: str
    days: list[DayOut] = Field(description="every day of the period, oldest first")


class OptionCountOut(BaseModel):
    answer: str
    runs: int
    option: bool = Field(description="one of the question's own options (else typed in)")


class QuestionBreakdownOut(BaseModel):
    element_id: str
    type: str
    runs: int = Field(description="runs that answered")
    answers: list[OptionCountOut] = Field(
        description="each run's latest answer counted: the options in course order, then "
        "other answers, most frequent first"
    )


class AnswersOut(BaseModel):
    deployment_id: int
    course_version_id: int
    questions: list[QuestionBreakdownOut]
