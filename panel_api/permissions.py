"""Who may do what: the roles table, as data.

Every panel route carries exactly one rule (see `panel_api.access`): an account permission
from `ROLE_RIGHTS`, or one of the non-account rules below. The app refuses to start with a
route that has none, the isolation test replays every route against this table, and
`roles_table_markdown()` renders the table the docs (and the README) show, so the three
cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from storage.models import MemberRole

ROLES: tuple[MemberRole, ...] = tuple(MemberRole)


class Permission(enum.StrEnum):
    ACCOUNT_READ = "account.read"
    ACCOUNT_UPDATE = "account.update"
    ACCOUNT_DELETE = "account.delete"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    BOTS_READ = "bots.read"
    BOTS_MANAGE = "bots.manage"
    COURSES_READ = "courses.read"
    COURSES_WRITE = "courses.write"
    INTEGRATIONS_READ = "integrations.read"
    INTEGRATIONS_MANAGE = "integrations.manage"
    DEPLOYMENTS_READ = "deployments.read"
    DEPLOYMENTS_MANAGE = "deployments.manage"
    TOKENS_READ = "tokens.read"
    TOKENS_MANAGE = "tokens.manage"
    RUNS_READ = "runs.read"
    RUNS_MANAGE = "runs.manage"
    STUDENTS_READ = "students.read"
    STUDENTS_MANAGE = "students.manage"
    ANALYTICS_READ = "analytics.read"
    AUDIT_READ = "audit.read"
    BROADCASTS_READ = "broadcasts.read"
    BROADCASTS_SEND = "broadcasts.send"


class GlobalRule(enum.StrEnum):
    """Rules of routes outside `/accounts/{account_id}`."""

    PUBLIC = "public"  # no credentials needed (login, logout)
    AUTHENTICATED = "authenticated"  # any logged-in Telegram user
    SUPERADMIN = "superadmin"  # platform operators (COURSEBOT_SUPERADMINS); others get 404


_O, _A, _C, _T, _V = (
    MemberRole.OWNER,
    MemberRole.ADMIN,
    MemberRole.CREATOR,
    MemberRole.TEACHER,
    MemberRole.VIEWER,
)
_EVERYONE = frozenset(ROLES)

ROLE_RIGHTS: Mapping[Permission, frozenset[MemberRole]] = {
    Permission.ACCOUNT_READ: _EVERYONE,
    Permission.ACCOUNT_UPDATE: frozenset({_O, _A}),
    Permission.ACCOUNT_DELETE: frozenset({_O}),
    Permission.MEMBERS_READ: _EVERYONE,
    Permission.MEMBERS_MANAGE: frozenset({_O, _A}),
    Permission.API_KEYS_MANAGE: frozenset({_O, _A}),
    Permission.BOTS_READ: _EVERYONE,
    Permission.BOTS_MANAGE: frozenset({_O, _A}),
    Permission.COURSES_READ: _EVERYONE,
    Permission.COURSES_WRITE: frozenset({_O, _A, _C}),
    Permission.INTEGRATIONS_READ: frozenset({_O, _A, _C}),
    Permission.INTEGRATIONS_MANAGE: frozenset({_O, _A}),
    Permission.DEPLOYMENTS_READ: _EVERYONE,
    Permission.DEPLOYMENTS_MANAGE: frozenset({_O, _A, _C}),
    Permission.TOKENS_READ: _EVERYONE,
    Permission.TOKENS_MANAGE: frozenset({_O, _A, _C, _T}),
    Permission.RUNS_READ: _EVERYONE,
    Permission.RUNS_MANAGE: frozenset({_O, _A, _T}),
    Permission.STUDENTS_READ: _EVERYONE,
    Permission.STUDENTS_MANAGE: frozenset({_O, _A, _T}),
    Permission.ANALYTICS_READ: _EVERYONE,
    Permission.AUDIT_READ: frozenset({_O, _A}),
    Permission.BROADCASTS_READ: _EVERYONE,
    Permission.BROADCASTS_SEND: frozenset({_O, _A, _C, _T}),
}

DESCRIPTIONS: Mapping[Permission, str] = {
    Permission.ACCOUNT_READ: "see the account, its plan limits and usage",
    Permission.ACCOUNT_UPDATE: "rename the account",
    Permission.ACCOUNT_DELETE: "delete, restore and purge the account",
    Permission.MEMBERS_READ: "list members",
    Permission.MEMBERS_MANAGE: "invite members, change roles, remove members",
    Permission.API_KEYS_MANAGE: "list, create and revoke API keys",
    Permission.BOTS_READ: "list bots",
    Permission.BOTS_MANAGE: "add bots, rotate tokens, enable/disable, mode, default deployment",
    Permission.COURSES_READ: "list courses, versions, diffs, export YAML",
    Permission.COURSES_WRITE: "upload/import courses and versions, delete courses",
    Permission.INTEGRATIONS_READ: (
        "see Google Sheets, LLM and YooKassa settings (no secrets), webhooks and their deliveries"
    ),
    Permission.INTEGRATIONS_MANAGE: (
        "set or remove the Google service account, LLM endpoint and budget, YooKassa shop, "
        "webhooks; read webhook secrets, replay deliveries"
    ),
    Permission.DEPLOYMENTS_READ: "list deployments",
    Permission.DEPLOYMENTS_MANAGE: "deploy, activate/deactivate, upgrade, price, decline text",
    Permission.TOKENS_READ: "list enrollment tokens and their usage",
    Permission.TOKENS_MANAGE: "create and revoke enrollment tokens",
    Permission.RUNS_READ: "list runs, read conversations, export CSV",
    Permission.RUNS_MANAGE: "stop a run",
    Permission.STUDENTS_READ: "list students, bans and restricted lists",
    Permission.STUDENTS_MANAGE: "ban/unban students, edit restricted lists",
    Permission.ANALYTICS_READ: "funnels, conversion, cohorts, score distributions",
    Permission.AUDIT_READ: "read the audit log",
    Permission.BROADCASTS_READ: "list broadcasts and their progress",
    Permission.BROADCASTS_SEND: (
        "count an audience, send a test to oneself, send and cancel broadcasts"
    ),
}


def allows(role: str, permission: Permission) -> bool:
    return role in ROLE_RIGHTS[permission]


def role_covers(holder: str, role: str) -> bool:
    """True when `holder` has every right `role` has: who may make an API key of `role`,
    and whose key of `role` keeps working. Rights, not a rank: a creator and a teacher have
    different rights, and neither covers the other."""
    return all(holder in allowed for allowed in ROLE_RIGHTS.values() if role in allowed)


def roles_table_markdown() -> str:
    """The roles table as Markdown (docs/panel.md embeds exactly this)."""
    header = "| Right | " + " | ".join(role.value for role in ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [
        f"| {DESCRIPTIONS[p]} (`{p.value}`) | "
        + " | ".join("yes" if role in ROLE_RIGHTS[p] else "—" for role in ROLES)
        + " |"
        for p in Permission
    ]
    return "\n".join([header, rule, *rows])
