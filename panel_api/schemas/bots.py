from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from panel_api.schemas.common import StrictIn
from storage.models import BotMode

# Loose on purpose: Telegram is the judge (a 422 carries its reason); this only keeps
# multi-kilobyte junk and whitespace out of the getMe URL.
TOKEN_FIELD = Field(min_length=3, max_length=200, description="the token from @BotFather")


class BotCreate(StrictIn):
    token: str = TOKEN_FIELD
    mode: BotMode = BotMode.POLLING


class BotTokenRotate(StrictIn):
    token: str = TOKEN_FIELD


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
