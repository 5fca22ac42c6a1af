"""The whole relational data model (DESIGN.md §4), as SQLAlchemy 2 typed declarative classes.

Conventions, so that every table reads the same way:
- BIGINT identity primary keys: deployment ids travel inside 64-char deep links, so they must
  stay short integers, never UUIDs.
- Every tenant row carries `account_id`; tables that other tenant rows point at also carry
  UNIQUE (account_id, id), and the children reference them with a composite foreign key
  (account_id, x_id). A bug can then never attach one account's run to another account's
  deployment: the database refuses the row even though foreign-key checks ignore RLS.
- Enumerations are TEXT + CHECK (values from the `StrEnum`s below): adding a value is a
  one-line constraint change in a migration instead of an `ALTER TYPE` dance.
- Row-Level Security, the app role's grants and the SECURITY DEFINER functions live in the
  migration and in storage/roles.py; `TENANT_TABLES` lists the tables they cover, and
  `GLOBAL_TABLES` the few that belong to a person rather than an account (panel logins).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        int: BigInteger,
        str: Text,
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        Decimal: Numeric(12, 2),
    }


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    CREATOR = "creator"
    TEACHER = "teacher"
    VIEWER = "viewer"


class BotMode(enum.StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class SourceFormat(enum.StrEnum):
    YAML = "yaml"
    GSHEET = "gsheet"


class Environment(enum.StrEnum):
    PROD = "prod"
    TEST = "test"


class TokenKind(enum.StrEnum):
    PUBLIC = "public"
    GROUP = "group"
    PERSONAL = "personal"
    EXTERNAL = "external"


class RunStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    STOPPED = "stopped"
    BLOCKED = "blocked"
    DECLINED = "declined"
    HALTED = "halted"  # the engine ended it: it went on too long without the student


class ConversationRole(enum.StrEnum):
    BOT = "bot"
    USER = "user"


class InboxKind(enum.StrEnum):
    """What an inbox row is: Telegram's update, or an event another producer wrote for the
    journal to apply (storage/inbox_events.py)."""

    TELEGRAM = "telegram"
    TIMER = "timer"  # a durable timer fell due
    GRANT = "grant"  # a payment gave the student access: start the course
    REFUND = "refund"  # the payment was refunded: stop the course
    STOP = "stop"  # the panel stopped the run (a teacher, a ban)
    REPIN = "repin"  # the panel moved the run to another version of its course
    BLOCKED = "blocked"  # the student blocked the bot: the run ends as `blocked`
    REMIND = "remind"  # a reminder rule fell due for a run waiting for its student
    NOTIFY = "notify"  # a message for a member of the account (teacher notifications)
    BROADCAST = "broadcast"  # a broadcast's message for the chat's student
    BROADCAST_TEST = "broadcast_test"  # a broadcast's test, to the member who writes it


class WaitStatus(enum.StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # Telegram refused it, or the student blocked the bot
    # Dropped because its run was stopped (admission_batch.stop_runs); with `sent_at` set,
    # it was the one message already on its way to Telegram when the stop came.
    CANCELLED = "cancelled"


class BroadcastStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # waits for `send_at`
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class BroadcastAudience(enum.StrEnum):
    ALL = "all"  # every student who had a run (but those who blocked the bot)
    ACTIVE = "active"  # in the middle of the course
    FINISHED = "finished"  # completed it
    STUCK = "stuck"  # storage/run_activity.is_stuck
    # Opened a deployment's link but have no run of it (storage/broadcasts.py): offered the
    # payment and did not pay, found the course full, their link used up...
    NOT_STARTED = "not_started"


class RecipientStatus(enum.StrEnum):
    QUEUED = "queued"  # materialised, not handed to the runtime yet
    POSTED = "posted"  # its event is in the chat's inbox, or its message in the outbox
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"  # the student blocked the bot: not retried
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    """YooKassa's payment statuses, kept verbatim so a re-fetched payment maps 1:1."""

    PENDING = "pending"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


def enum_check(column: str, values: type[enum.StrEnum], name: str | None = None) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or column)


def tenant_fk(column: str, target: str, ondelete: str | None = None) -> ForeignKeyConstraint:
    """Composite FK (account_id, column) -> target(account_id, id): same-tenant references only."""
    return ForeignKeyConstraint(
        ["account_id", column],
        [f"{target}.account_id", f"{target}.id"],
        ondelete=ondelete,
    )


def _pk() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(), primary_key=True)


def _account_id() -> Mapped[int]:
    return mapped_column(ForeignKey("account.id", ondelete="CASCADE"))


def _created_at() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


def _updated_at() -> Mapped[datetime]:
    return mapped_column(server_default=func.now(), onupdate=func.now())


def _jsonb_object() -> Mapped[dict[str, Any]]:
    return mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Utm:
    """UTM labels: set on a token, copied onto the runs it starts (analytics per source)."""

    utm_source: Mapped[str | None] = mapped_column()
    utm_medium: Mapped[str | None] = mapped_column()
    utm_campaign: Mapped[str | None] = mapped_column()
    utm_content: Mapped[str | None] = mapped_column()
    utm_term: Mapped[str | None] = mapped_column()


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="slug_format"),
        CheckConstraint("stuck_after_minutes > 0", name="stuck_after_minutes_positive"),
    )

    id: Mapped[int] = _pk()
    slug: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    plan: Mapped[str] = mapped_column(server_default="free")
    limits: Mapped[dict[str, Any]] = _jsonb_object()
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()
    deleted_at: Mapped[datetime | None]
    # Google service-account JSON for Sheets imports, encrypted like bot tokens.
    sheets_credentials_ciphertext: Mapped[str | None]
    # IANA zone the account's people read and enter times in (storage/run_activity.py checks it).
    time_zone: Mapped[str] = mapped_column(server_default="UTC")
    # An active run that has waited this long for its student counts as stuck.
    stuck_after_minutes: Mapped[int] = mapped_column(Integer, server_default=text("1440"))


class AccountMember(Base):
    __tablename__ = "account_member"
    __table_args__ = (
        UniqueConstraint("account_id", "telegram_user_id"),
        Index(None, "telegram_user_id"),
        enum_check("role", MemberRole),
        CheckConstraint("ui_language ~ '^[a-z]{2}$'", name="ui_language_format"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    telegram_user_id: Mapped[int]
    username: Mapped[str | None]
    role: Mapped[str]
    created_at: Mapped[datetime] = _created_at()
    # The panel's language for this member ("en", "ru"); NULL follows the browser.
    ui_language: Mapped[str | None]


class ApiKey(Base):
    """Script access to the panel API; only the SHA-256 of the key is stored."""

    __tablename__ = "api_key"
    __table_args__ = (Index(None, "account_id"), enum_check("role", MemberRole))

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    name: Mapped[str]
    key_hash: Mapped[str] = mapped_column(unique=True)
    role: Mapped[str]
    # The Telegram user who made the key (a key made by a key: that key's maker). The key
    # works only while they are a member whose role covers the key's; NULL is a key made
    # before makers were recorded whose maker the audit log did not name: refused.
    created_by: Mapped[int | None]
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Bot(Base):
    """A connected Telegram bot. The token exists here only as ciphertext + SHA-256."""

    __tablename__ = "bot"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        ForeignKeyConstraint(
            ["account_id", "default_deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            use_alter=True,
        ),
        enum_check("mode", BotMode),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    token_ciphertext: Mapped[str]
    token_hash: Mapped[str] = mapped_column(unique=True)
    telegram_id: Mapped[int] = mapped_column(unique=True)
    username: Mapped[str]
    mode: Mapped[str] = mapped_column(server_default=BotMode.POLLING.value)
    webhook_secret_ciphertext: Mapped[str | None]
    public_id: Mapped[str] = mapped_column(unique=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    default_deployment_id: Mapped[int | None]
    last_update_at: Mapped[datetime | None]
    # Digest of the command menus last registered with Telegram (adapters/telegram/menu.py).
    commands_hash: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Course(Base):
    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("account_id", "id"), UniqueConstraint("account_id", "slug"))

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    title: Mapped[str]
    slug: Mapped[str]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class CourseVersion(Base):
    """Immutable snapshot of a course; runs and deployments pin one (the app role has no UPDATE)."""

    __tablename__ = "course_version"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        UniqueConstraint("course_id", "number"),
        tenant_fk("course_id", "course", ondelete="CASCADE"),
        enum_check("source_format", SourceFormat),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    course_id: Mapped[int]
    number: Mapped[int] = mapped_column(Integer)
    # A version may be 1 MiB of source and 30,000 elements: lists and pages read neither
    # unless they ask (repositories.courses), and decoding the elements is never implicit.
    source_text: Mapped[str] = mapped_column(deferred=True, deferred_raiseload=True)
    source_format: Mapped[str]
    elements: Mapped[list[Any]] = mapped_column(JSONB, deferred=True, deferred_raiseload=True)
    checksum: Mapped[str]
    created_at: Mapped[datetime] = _created_at()
    elements_count: Mapped[int] = column_property(func.jsonb_array_length(elements))


class CourseElement(Base):
    """One element of a version, in order: lets analytics join funnels without parsing JSON."""

    __tablename__ = "course_element"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        UniqueConstraint("version_id", "element_id"),
        tenant_fk("version_id", "course_version", ondelete="CASCADE"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    version_id: Mapped[int]
    position: Mapped[int] = mapped_column(Integer)
    element_id: Mapped[str]
    type: Mapped[str]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class CourseDeployment(Base):
    __tablename__ = "course_deployment"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        Index(None, "bot_id"),
        tenant_fk("course_version_id", "course_version"),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
        enum_check("environment", Environment),
        CheckConstraint("(price_amount IS NULL) = (price_currency IS NULL)", name="price_pair"),
        CheckConstraint("price_amount IS NULL OR price_amount > 0", name="price_positive"),
        CheckConstraint("price_currency ~ '^[A-Z]{3}$'", name="price_currency_format"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    course_version_id: Mapped[int]
    bot_id: Mapped[int]
    environment: Mapped[str]
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    restricted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    decline_text: Mapped[str | None]
    price_amount: Mapped[Decimal | None]
    price_currency: Mapped[str | None]
    # What `/help` answers in the bot (NULL: the default text, runtime/student_texts.py).
    help_text: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class EnrollmentToken(Utm, Base):
    __tablename__ = "enrollment_token"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        UniqueConstraint("deployment_id", "token"),
        tenant_fk("deployment_id", "course_deployment", ondelete="CASCADE"),
        enum_check("kind", TokenKind),
        CheckConstraint("token ~ '^[A-Za-z0-9_-]{1,32}$'", name="token_format"),
        CheckConstraint("uses >= 0", name="uses_non_negative"),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint(
            "label IS NULL OR char_length(label) BETWEEN 1 AND 100", name="label_length"
        ),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    deployment_id: Mapped[int]
    token: Mapped[str]
    # What people call the link ("7B", "VK ad"); runs are filtered by it.
    label: Mapped[str | None]
    kind: Mapped[str]
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    bound_telegram_user_id: Mapped[int | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class Participant(Base):
    __tablename__ = "participant"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        UniqueConstraint("account_id", "telegram_user_id"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    telegram_user_id: Mapped[int]
    username: Mapped[str | None]
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    language_code: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Run(Utm, Base):
    """One student's pass through one pinned course version in one chat."""

    __tablename__ = "run"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        Index(
            "uq_run_bot_id_chat_id_active",
            "bot_id",
            "chat_id",
            unique=True,
            postgresql_where=text("is_active"),
        ),
        Index(None, "account_id", "deployment_id", "started_at"),
        Index(None, "account_id", "telegram_user_id"),
        Index(
            "ix_run_account_id_updated_at_active",
            "account_id",
            "updated_at",
            postgresql_where=text("is_active"),
        ),
        # Reminders: a deployment's runs by the age of their last step (migration 0017).
        Index(
            "ix_run_deployment_id_updated_at_active",
            "deployment_id",
            "updated_at",
            postgresql_where=text("is_active"),
        ),
        # Teacher notifications: a deployment's runs that finished lately.
        Index(
            "ix_run_deployment_id_finished_at",
            "deployment_id",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
        tenant_fk("deployment_id", "course_deployment"),
        tenant_fk("course_version_id", "course_version"),
        tenant_fk("bot_id", "bot"),
        tenant_fk("participant_id", "participant"),
        tenant_fk("token_id", "enrollment_token"),
        enum_check("status", RunStatus),
        CheckConstraint("is_active = (status = 'active')", name="is_active_matches_status"),
        CheckConstraint("(finished_at IS NULL) = is_active", name="finished_at_iff_inactive"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    deployment_id: Mapped[int]
    course_version_id: Mapped[int]
    bot_id: Mapped[int]
    chat_id: Mapped[int]
    telegram_user_id: Mapped[int]
    participant_id: Mapped[int | None]
    token_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(server_default=RunStatus.ACTIVE.value)
    # Why the engine ended the run, for the teacher (a code the panel words); else NULL.
    note: Mapped[str | None]
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    state: Mapped[dict[str, Any]] = _jsonb_object()
    # Grows with every write of `state` (a trigger, whoever writes): a process that holds a
    # run's parsed state knows from the number alone whether it is still current.
    state_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # The element the run stands on (None: not begun), written with every state by the
    # journal, so that readers need no key of the engine's state JSON.
    current_element: Mapped[str | None]
    started_at: Mapped[datetime] = _created_at()
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = _updated_at()


class LinkVisit(Base):
    """A chat that opened a deployment's deep link (`/start cd_<deployment>_<token>`),
    whether or not a run began: written by the journal's admission (runtime/admission.py),
    one row per deployment and chat, for the broadcast audience "opened the link but did
    not start". `token_id` and `utm_source` are those of the latest link opened; the names
    and language, the student's Telegram profile at the latest visit (a student with no run
    has no `participant` row: their personal texts read these, storage/batch.py)."""

    __tablename__ = "link_visit"
    __table_args__ = (
        UniqueConstraint("deployment_id", "chat_id"),
        # A whole bot's visits in order (a broadcast's recipients, a batch at a time).
        Index(None, "bot_id", "id"),
        # A student's latest visit in the account (their names when they have no run).
        Index(None, "account_id", "telegram_user_id", "last_at"),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
        tenant_fk("deployment_id", "course_deployment", ondelete="CASCADE"),
        tenant_fk("token_id", "enrollment_token"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    bot_id: Mapped[int]
    deployment_id: Mapped[int]
    chat_id: Mapped[int]
    telegram_user_id: Mapped[int]
    token_id: Mapped[int | None]
    utm_source: Mapped[str | None]
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    # Telegram refused a message to the chat (the student blocked the bot) since the last
    # visit: left out of broadcasts, as a run that ended `blocked` is.
    blocked_at: Mapped[datetime | None]
    first_name: Mapped[str | None]
    username: Mapped[str | None]
    language_code: Mapped[str | None]


class Conversation(Base):
    __tablename__ = "conversation"
    __table_args__ = (
        Index(None, "run_id", "id"),
        # The scores of `test` elements (bot lines with a score), by time: teacher
        # notifications look for tests failed lately (migration 0017).
        Index(
            "ix_conversation_account_id_created_at_scored",
            "account_id",
            "created_at",
            postgresql_where=text("role = 'bot' AND maxscore IS NOT NULL"),
        ),
        tenant_fk("run_id", "run", ondelete="CASCADE"),
        enum_check("role", ConversationRole),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    run_id: Mapped[int]
    element_id: Mapped[str]
    role: Mapped[str]
    text: Mapped[str]
    score: Mapped[float | None] = mapped_column(Double)
    maxscore: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = _created_at()


class Waiting(Base):
    """A durable timer (`delay`, `jump` wait): the scheduler claims due rows with SKIP LOCKED."""

    __tablename__ = "waiting"
    __table_args__ = (
        Index("ix_waiting_due_at_pending", "due_at", postgresql_where=text("status = 'pending'")),
        Index("ix_waiting_run_id_pending", "run_id", postgresql_where=text("status = 'pending'")),
        tenant_fk("run_id", "run", ondelete="CASCADE"),
        enum_check("status", WaitStatus),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    run_id: Mapped[int]
    wait_id: Mapped[str]
    due_at: Mapped[datetime]
    goto: Mapped[str | None]
    status: Mapped[str] = mapped_column(server_default=WaitStatus.PENDING.value)
    fired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class Outbox(Base):
    """The runtime's durable send queue: a message survives a crash between step() and send."""

    __tablename__ = "outbox"
    __table_args__ = (
        # What a chat still has to send, in order (the runtime asks per chat).
        Index(
            "ix_outbox_chat_pending",
            "bot_id",
            "chat_id",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
        tenant_fk("run_id", "run", ondelete="CASCADE"),
        enum_check("status", OutboxStatus),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    bot_id: Mapped[int]
    chat_id: Mapped[int]
    run_id: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(server_default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()
    sent_at: Mapped[datetime | None]
    # A broadcast's message: its recipient follows the row's status (migration 0019).
    broadcast_recipient_id: Mapped[int | None]


class BotMedia(Base):
    """A media link Telegram fetched once for a bot, and the `file_id` it gave back: sent
    again, the file goes by id instead of Telegram downloading the link anew (file ids are
    per bot, DESIGN §12)."""

    __tablename__ = "bot_media"
    __table_args__ = (
        UniqueConstraint("bot_id", "url"),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    bot_id: Mapped[int]
    url: Mapped[str]
    file_id: Mapped[str]
    created_at: Mapped[datetime] = _created_at()


class RefusedMedia(Base):
    """A media link of a course version that Telegram refused to send (an HTML page, a file
    too large, a dead link): recorded once per version, element and link so the creator
    sees it on the version and its runs, while students get the words instead."""

    __tablename__ = "refused_media"
    __table_args__ = (
        UniqueConstraint("course_version_id", "element_id", "url"),
        tenant_fk("course_version_id", "course_version", ondelete="CASCADE"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    course_version_id: Mapped[int]
    element_id: Mapped[str]
    url: Mapped[str]
    reason: Mapped[str]
    created_at: Mapped[datetime] = _created_at()


class Banned(Base):
    """A banned Telegram user: for the whole account (bot_id NULL) or for one bot."""

    __tablename__ = "banned"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "telegram_user_id", "bot_id", postgresql_nulls_not_distinct=True
        ),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    telegram_user_id: Mapped[int]
    bot_id: Mapped[int | None]
    reason: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()


class Restricted(Base):
    """Allow-list entry of a restricted deployment: a Telegram user id or a lower-case username."""

    __tablename__ = "restricted"
    __table_args__ = (
        Index(
            "uq_restricted_deployment_id_telegram_user_id",
            "deployment_id",
            "telegram_user_id",
            unique=True,
            postgresql_where=text("telegram_user_id IS NOT NULL"),
        ),
        Index(
            "uq_restricted_deployment_id_username",
            "deployment_id",
            "username",
            unique=True,
            postgresql_where=text("username IS NOT NULL"),
        ),
        tenant_fk("deployment_id", "course_deployment", ondelete="CASCADE"),
        CheckConstraint(
            "telegram_user_id IS NOT NULL OR username IS NOT NULL", name="user_or_username"
        ),
        CheckConstraint("username ~ '^[a-z0-9_]{1,64}$'", name="username_normalised"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    deployment_id: Mapped[int]
    telegram_user_id: Mapped[int | None]
    username: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()


class ProcessedUpdate(Base):
    """The inbox: Telegram's updates, stored before Telegram is acknowledged ((bot_id,
    update_id) de-duplicates), and the events other producers write for the journal."""

    __tablename__ = "processed_update"
    __table_args__ = (
        UniqueConstraint("bot_id", "update_id"),
        # A chat's unprocessed updates in Telegram's order (per-chat ordering checks).
        Index(
            "ix_processed_update_chat_unprocessed",
            "bot_id",
            "chat_id",
            "update_id",
            postgresql_where=text("processed_at IS NULL"),
        ),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
        enum_check("kind", InboxKind),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    bot_id: Mapped[int]
    # Telegram's update id; an event's comes from the sequence `inbox_event_update_id`
    # (negative, counting up: a chat's events go before its waiting updates, in order).
    update_id: Mapped[int]
    kind: Mapped[str] = mapped_column(server_default=InboxKind.TELEGRAM.value)
    chat_id: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = _created_at()
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None]


class Payment(Base):
    """One checkout attempt of a student for a paid deployment, mirrored from the provider.

    It doubles as the access record: a student may take a paid deployment while one of their
    payments for it is `succeeded` and not fully refunded (see repositories.payments.has_access),
    so there is no second table to keep in step with the provider's state.
    `description`/`return_url` are kept so a retry with the same idempotence key sends the
    provider a byte-identical body (a different body under the same key is refused).
    """

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("account_id", "provider_payment_id"),
        UniqueConstraint("account_id", "idempotence_key"),
        Index(None, "account_id", "deployment_id", "telegram_user_id"),
        tenant_fk("deployment_id", "course_deployment"),
        tenant_fk("run_id", "run"),
        enum_check("status", PaymentStatus),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_format"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"
        ),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    deployment_id: Mapped[int]
    run_id: Mapped[int | None]
    chat_id: Mapped[int | None]
    telegram_user_id: Mapped[int | None]
    provider: Mapped[str] = mapped_column(server_default="yookassa")
    provider_payment_id: Mapped[str | None]
    idempotence_key: Mapped[str]
    amount: Mapped[Decimal]
    currency: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=PaymentStatus.PENDING.value)
    refunded_amount: Mapped[Decimal] = mapped_column(server_default=text("0"))
    description: Mapped[str | None]
    return_url: Mapped[str | None]
    confirmation_url: Mapped[str | None]
    # `metadata` is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class PaymentCredentials(Base):
    __tablename__ = "payment_credentials"
    __table_args__ = (UniqueConstraint("account_id", "provider"),)

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    provider: Mapped[str] = mapped_column(server_default="yookassa")
    shop_id: Mapped[str]
    secret_ciphertext: Mapped[str]
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "account_id", "at"),)

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    actor: Mapped[str]
    action: Mapped[str]
    object_type: Mapped[str]
    object_id: Mapped[str | None]
    details: Mapped[dict[str, Any]] = _jsonb_object()
    at: Mapped[datetime] = _created_at()


class ReminderRule(Base):
    """A deployment's nudge: "if a run waits for its student `after_minutes`, send `text`,
    at most `max_count` times", never between `quiet_start` and `quiet_end` (minutes of the
    day in the account's time zone). The sweep looks at a rule again at `sweep_at`."""

    __tablename__ = "reminder_rule"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        Index(None, "deployment_id"),
        Index(None, "sweep_at"),
        tenant_fk("deployment_id", "course_deployment", ondelete="CASCADE"),
        CheckConstraint("after_minutes > 0", name="after_minutes_positive"),
        CheckConstraint("max_count BETWEEN 1 AND 20", name="max_count_range"),
        CheckConstraint("(quiet_start IS NULL) = (quiet_end IS NULL)", name="quiet_pair"),
        CheckConstraint("quiet_start BETWEEN 0 AND 1439", name="quiet_start_range"),
        CheckConstraint("quiet_end BETWEEN 0 AND 1439", name="quiet_end_range"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    deployment_id: Mapped[int]
    after_minutes: Mapped[int] = mapped_column(Integer)
    max_count: Mapped[int] = mapped_column(Integer)
    text: Mapped[str]
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    sweep_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_at: Mapped[datetime] = _created_at()


class RunReminder(Base):
    """How many nudges of a rule a run got since its last step (`since`: the run's
    `updated_at` they count for; a newer step starts the count again). `queued_at`: a nudge
    waits in the inbox, so the sweep does not queue another."""

    __tablename__ = "run_reminder"
    __table_args__ = (
        tenant_fk("run_id", "run", ondelete="CASCADE"),
        tenant_fk("rule_id", "reminder_rule", ondelete="CASCADE"),
    )

    run_id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = _account_id()
    since: Mapped[datetime]
    sent: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_sent_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]


class MemberNotification(Base):
    """A member's wish to hear in Telegram (from the deployment's bot) about its students:
    finished, failed a test below `fail_below` percent, stuck; or, with `digest_hour` set, one
    digest a day at that hour of the account's time zone instead. `refused_at`: Telegram
    answered 403 (the member never pressed Start in the bot)."""

    __tablename__ = "member_notification"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        UniqueConstraint("deployment_id", "telegram_user_id"),
        Index(None, "sweep_at"),
        tenant_fk("deployment_id", "course_deployment", ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["account_id", "telegram_user_id"],
            ["account_member.account_id", "account_member.telegram_user_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("fail_below BETWEEN 1 AND 100", name="fail_below_range"),
        CheckConstraint("digest_hour BETWEEN 0 AND 23", name="digest_hour_range"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    deployment_id: Mapped[int]
    telegram_user_id: Mapped[int]
    on_finish: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    on_fail: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    fail_below: Mapped[int | None] = mapped_column(Integer)
    on_stuck: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    digest_hour: Mapped[int | None] = mapped_column(Integer)
    sweep_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_digest_on: Mapped[date | None] = mapped_column(Date)
    refused_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class MemberNotice(Base):
    """One notice a member was sent about a run (what, and for which episode: a stuck run is
    told once per stretch of silence), so no sweep tells it twice."""

    __tablename__ = "member_notice"
    __table_args__ = (
        UniqueConstraint("notification_id", "run_id", "kind", "episode"),
        tenant_fk("notification_id", "member_notification", ondelete="CASCADE"),
        tenant_fk("run_id", "run", ondelete="CASCADE"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    notification_id: Mapped[int]
    run_id: Mapped[int]
    kind: Mapped[str]
    episode: Mapped[datetime]
    created_at: Mapped[datetime] = _created_at()


class LlmSettings(Base):
    """An account's own chat-model endpoint for `dialog` elements (OpenAI-compatible).

    Without a row the process-wide default (OPENAI_BASE_URL) applies; `monthly_token_limit`
    caps what the account may spend there as well. `timeout_s` bounds one call (a slow
    self-hosted model may need more than the default, a student should not wait for a stuck
    one); NULL keeps the process default.
    """

    __tablename__ = "llm_settings"
    __table_args__ = (
        UniqueConstraint("account_id"),
        CheckConstraint("timeout_s IS NULL OR timeout_s > 0", name="timeout_positive"),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    base_url: Mapped[str | None]
    api_key_ciphertext: Mapped[str | None]
    model: Mapped[str | None]
    transcription_model: Mapped[str | None]
    monthly_token_limit: Mapped[int | None] = mapped_column(BigInteger)
    timeout_s: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[datetime] = _updated_at()


class LlmUsage(Base):
    """Tokens an account spent on LLM calls, per calendar month (UTC)."""

    __tablename__ = "llm_usage"
    __table_args__ = (UniqueConstraint("account_id", "month"),)

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    month: Mapped[date] = mapped_column(Date)
    calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    completion_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class PanelSession(Base):
    """A logged-in panel session. The cookie carries a random token; only its SHA-256 is
    stored, so a copy of this table logs nobody in. Logging out deletes the row."""

    __tablename__ = "panel_session"
    __table_args__ = (Index(None, "expires_at"),)

    token_hash: Mapped[str] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int]
    username: Mapped[str | None]
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]


class UsedLogin(Base):
    """A signed Telegram login already accepted (SHA-256 of its `hash`), kept until the login
    would be too old anyway, so the same signed data never logs in twice."""

    __tablename__ = "used_login"
    __table_args__ = (Index(None, "expires_at"),)

    login_hash: Mapped[str] = mapped_column(primary_key=True)
    expires_at: Mapped[datetime]


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # given up: no 2xx within the retry window


class WebhookEndpoint(Base):
    """An account's outgoing webhook: where events are POSTed and which ones. The signing
    secret is ours (generated), kept only as ciphertext; `events` are the subscribed types."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (UniqueConstraint("account_id", "id"),)

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    url: Mapped[str]
    secret_ciphertext: Mapped[str]
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class WebhookDelivery(Base):
    """One event for one endpoint: written in the transaction of the change it reports, then
    POSTed by a runner's delivery loop until the endpoint takes it or the window closes.
    `body` is the exact JSON sent (and re-sent on a retry or replay, so its signature's
    payload never changes but for the timestamp)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        Index(None, "account_id", "endpoint_id", "id"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        tenant_fk("endpoint_id", "webhook_endpoint", ondelete="CASCADE"),
        enum_check("status", WebhookStatus),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    endpoint_id: Mapped[int]
    event_id: Mapped[str]
    event_type: Mapped[str]
    body: Mapped[str]
    status: Mapped[str] = mapped_column(server_default=WebhookStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime]
    # When the retry window started: the first attempt, or the latest replay.
    window_start: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class Runner(Base):
    """A live runner process (DESIGN §8): its heartbeat, so each runner knows how many share
    the bots. A row past `expires_at` is a runner that died without saying so."""

    __tablename__ = "runner"

    id: Mapped[str] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime]


class BotLease(Base):
    """Which runner hosts a bot (polls it, applies its chats' inbox, delivers its messages)
    until `expires_at` (storage/leases.py)."""

    __tablename__ = "bot_lease"
    __table_args__ = (Index(None, "holder"),)

    bot_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holder: Mapped[str]
    expires_at: Mapped[datetime]


class Broadcast(Base):
    """A message to an audience of one deployment's (or one bot's) students; its
    recipients are materialised by the runtime in batches (runtime/broadcasts.py)."""

    __tablename__ = "broadcast"
    __table_args__ = (
        UniqueConstraint("account_id", "id"),
        Index(None, "account_id", "id"),
        Index(
            "ix_broadcast_bot_id_unfinished",
            "bot_id",
            postgresql_where=text("status IN ('scheduled', 'sending')"),
        ),
        tenant_fk("bot_id", "bot", ondelete="CASCADE"),
        tenant_fk("deployment_id", "course_deployment", ondelete="CASCADE"),
        enum_check("status", BroadcastStatus),
        enum_check("audience", BroadcastAudience),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    bot_id: Mapped[int]
    deployment_id: Mapped[int | None]
    created_by: Mapped[int | None]  # the member's Telegram id (None: an API key's maker left)
    text: Mapped[str]
    message: Mapped[dict[str, Any]] = mapped_column(JSONB)  # as an outbox row's payload
    audience: Mapped[str]
    filters: Mapped[dict[str, Any]] = _jsonb_object()
    status: Mapped[str] = mapped_column(server_default=BroadcastStatus.SCHEDULED.value)
    send_at: Mapped[datetime]
    # `text` is a column here: the defaults cannot use sqlalchemy's text() below it.
    total: Mapped[int] = mapped_column(Integer, server_default="0")
    # The keyset cursor of the materialisation: a run id, or for `not_started` a link_visit id.
    materialized_through: Mapped[int] = mapped_column(server_default="0")
    materialized_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created_at()


class BroadcastRecipient(Base):
    """One student of a broadcast: UNIQUE (broadcast_id, chat_id) makes it at most once."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "chat_id"),
        Index(
            "ix_broadcast_recipient_bot_id_waiting",
            "bot_id",
            "status",
            "id",
            postgresql_where=text("status IN ('queued', 'posted')"),
        ),
        Index(None, "broadcast_id", "status"),
        tenant_fk("broadcast_id", "broadcast", ondelete="CASCADE"),
        enum_check("status", RecipientStatus),
    )

    id: Mapped[int] = _pk()
    account_id: Mapped[int] = _account_id()
    broadcast_id: Mapped[int]
    bot_id: Mapped[int]
    chat_id: Mapped[int]
    status: Mapped[str] = mapped_column(server_default=RecipientStatus.QUEUED.value)
    posted_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


# Tables of a person rather than of an account: no account_id, so no Row-Level Security
# (there is no account to scope them by); the app role's grants (storage/roles.py) say what
# it may do with them.
GLOBAL_TABLES: tuple[str, ...] = ("panel_session", "used_login")
# Tables of the platform's own processes (runners and their bot leases): no account either.
PLATFORM_TABLES: tuple[str, ...] = ("runner", "bot_lease")
# Every other table belongs to one account and is under Row-Level Security: `account` is
# keyed by its own id, all the others by account_id.
TENANT_TABLES: tuple[str, ...] = tuple(
    t.name
    for t in Base.metadata.sorted_tables
    if t.name not in GLOBAL_TABLES and t.name not in PLATFORM_TABLES
)
