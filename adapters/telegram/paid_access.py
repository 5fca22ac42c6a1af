"""What a payment does to a student's course: a success starts it, a refund ends it.

The payments service calls this hook inside the transaction that records the provider's
verdict. It only writes the verdict into the chat's inbox as an event
(storage/inbox_events.py), so the event commits with the payment (a crash re-delivers the
notification) and the journal applies it like any update: a grant begins the course
through admission's statements, as a paid `/start` does, and a refund stops the run and
tells the student why. Applying is idempotent: a notification and a student's second tap
may both report the same payment.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments import AccessChange, GrantedAccess
from storage import inbox_events
from storage.inbox_events import AccessGranted, AccessRefunded, InboxEvent


async def paid_access(session: AsyncSession, change: AccessChange) -> None:
    """The payments service's access hook: the verdict, as an event for the chat."""
    event: InboxEvent = (
        AccessGranted(change.deployment_id, change.telegram_user_id, change.token_id)
        if isinstance(change, GrantedAccess)
        else AccessRefunded(change.deployment_id)
    )
    await inbox_events.post(session, change.account_id, change.bot_id, change.chat_id, event)
