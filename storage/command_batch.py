"""What the runtime needs to answer student commands (runtime/commands.py), for all the
commands of a journal batch in one statement: the account's time zone (for the time of
the next message), the deployment's `/help` text, and the enrollment token of the run a
`/restart` begins again (admission checks it as for a new `/start`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from storage.batch import BatchConnection, columns

_COMMAND_FACTS = """
SELECT s.n, a.time_zone, d.help_text, t.token
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY
     AS s(account_id, deployment_id, run_id, n)
JOIN account a ON a.id = s.account_id
LEFT JOIN course_deployment d ON d.account_id = s.account_id AND d.id = s.deployment_id
LEFT JOIN run r ON r.account_id = s.account_id AND r.id = s.run_id
LEFT JOIN enrollment_token t ON t.account_id = r.account_id AND t.id = r.token_id
"""


class CommandQuestion(NamedTuple):
    """A command to answer: its account, the deployment it is about (the chat's run's, or
    the bot's default; None: neither) and the chat's active run (None: no run)."""

    account_id: int
    deployment_id: int | None
    run_id: int | None


class CommandFacts(NamedTuple):
    time_zone: str
    help_text: str | None
    token: str | None  # the run's enrollment token (None: begun without one)


async def command_facts(
    conn: BatchConnection, questions: Sequence[CommandQuestion]
) -> list[CommandFacts]:
    """Facts per question, in order."""
    if not questions:
        return []
    found = {r["n"]: r for r in await conn.fetch(_COMMAND_FACTS, *columns(questions, 3))}
    return [
        CommandFacts(found[n]["time_zone"], found[n]["help_text"], found[n]["token"])
        for n in range(1, len(questions) + 1)
    ]
