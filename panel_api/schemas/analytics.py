from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FunnelStepOut(BaseModel):
    position: int
    element_id: str
    type: str
    reached: int = Field(description="runs with at least one conversation line of the element")
    completed: int = Field(description="reached and went on (or finished the course here)")
    dropped: int = Field(description="ended stopped/blocked/declined with this as last element")
    in_progress: int = Field(description="still active with this as last element")


class FunnelOut(BaseModel):
    deployment_id: int
    course_version_id: int
    runs: int
    runs_without_lines: int
    steps: list[FunnelStepOut]


class ConversionOut(BaseModel):
    key: str = Field(description="token value, '(no token)', UTM source or '(none)'")
    token_id: int | None
    started: int
    completed: int
    rate: float | None = Field(description="completed / started")


class ConversionReport(BaseModel):
    deployment_id: int
    by_token: list[ConversionOut]
    by_utm_source: list[ConversionOut]


class CohortOut(BaseModel):
    day: datetime = Field(description="UTC day the runs started")
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
