from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from botapi.tokens import MALFORMED_TOKEN, is_bot_token
from panel_api.schemas.common import StrictIn
from storage.models import BotMode


def _bot_token(text: str) -> str:
    """Refused before Telegram is asked, in plain words (never echoing the text)."""
    if not is_bot_token(text):
        raise PydanticCustomError("bot_token", MALFORMED_TOKEN)
    return text


BotToken = Annotated[
    str,
    Field(max_length=200, description="the token from @BotFather, e.g. 123456789:AAF..."),
    AfterValidator(_bot_token),
]


class BotCreate(StrictIn):
    token: BotToken
    mode: BotMode = BotMode.POLLING


class BotTokenRotate(StrictIn):
    token: BotToken


class BotUpdate(StrictIn):
    active: bool | None = None
    mode: BotMode | None = None
    default_deployment_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="deployment of this bot for a plain /start"
    )
    clear_default_deployment: bool = False


class BotOut(BaseModel):
    id: int
    telegram_id: int
    username: str
    mode: str
    active: bool
    default_deployment_id: int | None
    last_update_at: datetime | None
    created_at: datetime
