from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field, field_validator, model_validator

from panel_api.messages import invalid
from panel_api.schemas.common import StrictIn
from storage.models import Environment

Price = Field(None, gt=0, le=Decimal("9999999999.99"), max_digits=12, decimal_places=2)
Currency = Field(None, pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. RUB")
HELP_TEXT_MAX = 4096  # one Telegram message
HelpText = Field(
    None,
    min_length=1,
    max_length=HELP_TEXT_MAX,
    description="what the bot answers to /help (plain text; null: a default text)",
)


class _PricePair(StrictIn):
    price_amount: Decimal | None = Price
    price_currency: str | None = Currency

    @model_validator(mode="after")
    def _pair(self) -> _PricePair:
        touched = {"price_amount", "price_currency"} & self.model_fields_set
        if touched and (self.price_amount is None) != (self.price_currency is None):
            raise invalid(
                "price_pair", "give price_amount and price_currency together (or both null)"
            )
        return self


def _help_text(value: str | None) -> str | None:
    """A help text of blanks would answer /help with nothing: refused in plain words."""
    if value is not None and not value.strip():
        raise invalid(
            "help_text_blank", "help_text must not be blank (send null or clear_help_text instead)"
        )
    return value.strip() if value is not None else None


class DeploymentCreate(_PricePair):
    course_version_id: int = Field(ge=1, le=2**63 - 1)
    bot_id: int = Field(ge=1, le=2**63 - 1)
    environment: Environment
    active: bool = True
    restricted: bool = False
    decline_text: str | None = Field(None, min_length=1, max_length=4096)
    help_text: str | None = HelpText

    _blank_help = field_validator("help_text")(_help_text)


class DeploymentUpdate(_PricePair):
    active: bool | None = None
    restricted: bool | None = None
    decline_text: str | None = Field(None, min_length=1, max_length=4096)
    clear_decline_text: bool = False
    help_text: str | None = HelpText
    clear_help_text: bool = False

    _blank_help = field_validator("help_text")(_help_text)


class DeploymentUpgrade(StrictIn):
    course_version_id: int = Field(ge=1, le=2**63 - 1)
    migrate_running: bool = Field(
        False,
        description="also move active runs to the new version (only runs whose current "
        "element exists there; the others stay pinned)",
    )


class DeploymentOut(BaseModel):
    id: int
    course_id: int
    course_version_id: int
    version_number: int
    bot_id: int
    bot_username: str
    environment: str
    active: bool
    restricted: bool
    decline_text: str | None
    help_text: str | None
    price_amount: Decimal | None
    price_currency: str | None
    created_at: datetime
    updated_at: datetime
    lacks: list[str] = Field(
        description="what the course needs and the account lacks, each a reason students "
        "will be stuck: `language_model` (the course has dialogs and no language model is "
        "set up), `payments` (a price and no YooKassa shop), `allow_list` (restricted, and "
        "nobody is on the allow-list)"
    )


class UpgradeOut(BaseModel):
    deployment: DeploymentOut
    migrated_runs: int
    pinned_runs: int = Field(description="active runs left on their old version")


class RestrictedImport(StrictIn):
    entries: list[str] = Field(
        default_factory=list,
        max_length=10_000,
        description="Telegram user ids and/or @usernames",
    )
    text: str | None = Field(
        None, max_length=200_000, description="the same, separated by commas/spaces/lines"
    )
    replace: bool = Field(False, description="drop the current list first")


class RestrictedEntryOut(BaseModel):
    id: int
    telegram_user_id: int | None
    username: str | None
    created_at: datetime


class RestrictedImportOut(BaseModel):
    added: int
    already_listed: int
    total: int


class UpgradePreview(BaseModel):
    """What an upgrade would do: `active_runs` on other versions, of which `movable_runs`
    stand where the new version has the same element id (the others would stay)."""

    from_version: int
    to_version: int
    course_version_id: int
    active_runs: int
    movable_runs: int
    lacks: list[str]
