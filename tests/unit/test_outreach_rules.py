"""The pure rules of reminders and teacher notifications: quiet hours in the account's zone,
when a daily digest is due, and what the member reads."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from runtime.outreach import digest_day
from runtime.outreach_texts import DIGEST_NAMES, digest_text, event_text
from storage.reminders import QuietHours
from storage.teacher_notices import FAILED, Digest, StudentEvent, Subscription

NIGHT = QuietHours(22 * 60, 9 * 60, "Europe/Moscow")  # 22:00-09:00 Moscow (UTC+3)


@pytest.mark.parametrize(
    ("utc", "quiet"),
    [
        (datetime(2026, 12, 7, 18, 59, tzinfo=UTC), False),  # 21:59 Moscow
        (datetime(2026, 12, 7, 19, 0, tzinfo=UTC), True),  # 22:00
        (datetime(2026, 12, 7, 23, 30, tzinfo=UTC), True),  # 02:30, past midnight
        (datetime(2026, 12, 8, 5, 59, tzinfo=UTC), True),  # 08:59
        (datetime(2026, 12, 8, 6, 0, tzinfo=UTC), False),  # 09:00: over
    ],
)
def test_quiet_hours_span_midnight_in_the_accounts_zone(utc: datetime, quiet: bool) -> None:
    assert NIGHT.holds(utc) is quiet


def test_a_nudge_due_in_quiet_hours_moves_to_their_end() -> None:
    due = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 02:30 Moscow
    assert NIGHT.after(due) == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)  # 09:00 Moscow
    evening = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 23:00 Moscow: ends next morning
    assert NIGHT.after(evening) == datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
    daytime = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert NIGHT.after(daytime) == daytime
    lunch = QuietHours(13 * 60, 14 * 60, "UTC")  # not spanning midnight
    assert lunch.after(datetime(2026, 12, 7, 13, 15, tzinfo=UTC)) == datetime(
        2026, 12, 7, 14, 0, tzinfo=UTC
    )


def _subscription(**changes: object) -> Subscription:
    fields: dict[str, object] = {
        "id": 1,
        "account_id": 1,
        "deployment_id": 1,
        "telegram_user_id": 5,
        "bot_id": 1,
        "course_title": "Astronomy",
        "language": "en",
        "time_zone": "Asia/Tokyo",  # UTC+9
        "stuck_after_minutes": 1440,
        "on_finish": True,
        "on_fail": False,
        "fail_below": None,
        "on_stuck": True,
        "digest_hour": 9,
        "last_digest_on": None,
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    fields.update(changes)
    return Subscription(**fields)  # type: ignore[arg-type]


def test_a_digest_is_due_once_a_day_from_its_hour_in_the_accounts_zone() -> None:
    sub = _subscription()
    assert digest_day(sub, datetime(2026, 12, 7, 23, 59, tzinfo=UTC)) is None  # 08:59 Tokyo
    assert digest_day(sub, datetime(2026, 12, 8, 0, 0, tzinfo=UTC)) == date(2026, 12, 8)
    sent = _subscription(last_digest_on=date(2026, 12, 8))
    assert digest_day(sent, datetime(2026, 12, 8, 10, 0, tzinfo=UTC)) is None
    assert digest_day(sent, datetime(2026, 12, 9, 0, 0, tzinfo=UTC)) == date(2026, 12, 9)
    # Opted in after today's hour: the first digest is tomorrow's.
    late = _subscription(created_at=datetime(2026, 12, 8, 1, 0, tzinfo=UTC))  # 10:00 Tokyo
    assert digest_day(late, datetime(2026, 12, 8, 2, 0, tzinfo=UTC)) is None
    assert digest_day(late, datetime(2026, 12, 9, 0, 0, tzinfo=UTC)) == date(2026, 12, 9)


def test_the_digest_counts_and_names_and_shortens_long_lists() -> None:
    many = [f"Student {n}" for n in range(DIGEST_NAMES + 3)]
    text = digest_text(Digest(["Olga"], [], many), "Astronomy", "en")
    assert text.splitlines() == [
        "Daily summary of “Astronomy”",
        "Finished: 1 — Olga",
        "Failed a test: 0",
        f"Stuck now: {DIGEST_NAMES + 3} — " + ", ".join(many[:DIGEST_NAMES]) + " and 3 more",
    ]
    russian = digest_text(Digest([], ["Иван"], []), "Астрономия", None)
    assert "Не сдали тест: 1 — Иван" in russian


def test_a_failed_test_names_the_student_and_the_score() -> None:
    event = StudentEvent(FAILED, 7, "Maria", 37.5)
    assert event_text(event, "Astronomy", "en") == (
        "⚠️ Maria scored 38% in a test of “Astronomy”, below your threshold."
    )
    assert "Maria набрал(а) 38%" in event_text(event, "Astronomy", "ru-RU")
