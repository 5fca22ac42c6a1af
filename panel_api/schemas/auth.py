from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from panel_api.schemas.common import reject_nul


class TelegramLoginIn(BaseModel):
    """The object the Login Widget passes to its callback (or its redirect's query fields).

    Extra fields are kept: Telegram signs every field it sends, including ones added later.
    """

    model_config = ConfigDict(extra="allow")

    id: int = Field(ge=1, le=2**63 - 1)
    auth_date: int = Field(ge=0, le=2**40)
    hash: str = Field(min_length=1, max_length=128)
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    photo_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


class DevLoginIn(BaseModel):
    """Who to be on a development panel (see `POST /auth/dev`)."""

    telegram_user_id: int = Field(ge=1, le=2**63 - 1)
    username: str | None = Field(default=None, pattern=r"^@?[A-Za-z0-9_]{1,32}$")


class UserOut(BaseModel):
    telegram_user_id: int
    username: str | None
    superadmin: bool


class AccountSummary(BaseModel):
    id: int
    slug: str
    name: str
    role: str
    deleted: bool


class MeOut(BaseModel):
    user: UserOut
    accounts: list[AccountSummary]
