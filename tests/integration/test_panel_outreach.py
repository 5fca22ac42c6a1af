"""Reminder rules and members' notification settings over the API and on the deployment and
run pages: role checks, 404 across accounts, 422 in plain words, Russian and English."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from storage.models import AccountMember, MemberNotification, MemberRole
from tests.integration.conftest import random_telegram_id
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration


async def _owner(db, account_id: int) -> int:
    async with db.tenant(account_id) as s:
        return await s.scalar(
            select(AccountMember.telegram_user_id).where(AccountMember.role == MemberRole.OWNER)
        )


async def test_reminder_rules_crud_with_roles_and_plain_errors(db, secret_box, seed_account):
    seeded, other = await seed_account(), await seed_account()
    ctx = panel_context(db, secret_box)
    owner = await user_headers(ctx, await _owner(db, seeded.account_id))
    teacher_id = random_telegram_id()
    async with db.tenant(seeded.account_id) as s:
        s.add(
            AccountMember(
                account_id=seeded.account_id, telegram_user_id=teacher_id, role=MemberRole.TEACHER
            )
        )
    teacher = await user_headers(ctx, teacher_id)
    base = f"/api/v1/accounts/{seeded.account_id}/deployments/{seeded.deployment_id}/reminders"
    async with panel_client(ctx) as client:
        made = await client.post(
            base,
            json={
                "after_minutes": 120,
                "max_count": 3,
                "text": "Come back to the course!",
                "quiet_hours": {"start": "22:00", "end": "09:00"},
            },
            headers=owner,
        )
        assert made.status_code == 201, made.text
        rule = made.json()
        assert rule["quiet_hours"] == {"start": "22:00", "end": "09:00"}
        assert (rule["after_minutes"], rule["max_count"]) == (120, 3)

        listed = await client.get(base, headers=teacher)  # teachers read
        # The seeded rule (after an hour) comes first: rules are listed by their wait.
        assert [r["after_minutes"] for r in listed.json()] == [60, 120]
        assert listed.json()[1]["id"] == rule["id"]
        refused = await client.post(base, json={"after_minutes": 5, "text": "x"}, headers=teacher)
        assert refused.status_code == 403  # but may not change them

        changed = await client.put(
            f"{base}/{rule['id']}",
            json={"after_minutes": 30, "max_count": 1, "text": "Still with us?"},
            headers=owner,
        )
        assert changed.status_code == 200 and changed.json()["quiet_hours"] is None

        for body, words in (
            ({"after_minutes": 0, "text": "x"}, "must be at least 1"),
            ({"after_minutes": 10, "text": "   "}, "must not be blank"),
            (
                {
                    "after_minutes": 10,
                    "text": "x",
                    "quiet_hours": {"start": "25:00", "end": "09:00"},
                },
                "is not a time of day like 22:00",
            ),
            (
                {
                    "after_minutes": 10,
                    "text": "x",
                    "quiet_hours": {"start": "09:00", "end": "09:00"},
                },
                "must start and end at different times",
            ),
            ({"after_minutes": 10, "text": "x", "max_count": 99}, "must be at most 20"),
        ):
            bad = await client.post(base, json=body, headers=owner)
            assert bad.status_code == 422, body
            assert words in bad.text, bad.text

        # Another account's deployment or rule: 404, whether named in its path or in ours.
        theirs = f"/api/v1/accounts/{other.account_id}/deployments/{other.deployment_id}/reminders"
        assert (await client.get(theirs, headers=owner)).status_code == 404
        mixed = f"/api/v1/accounts/{seeded.account_id}/deployments/{other.deployment_id}/reminders"
        assert (await client.get(mixed, headers=owner)).status_code == 404
        other_rule = (
            await client.get(
                theirs, headers=await user_headers(ctx, await _owner(db, other.account_id))
            )
        ).json()[0]["id"]
        assert (await client.get(f"{base}/{other_rule}", headers=owner)).status_code == 404
        assert (await client.delete(f"{base}/{other_rule}", headers=owner)).status_code == 404

        assert (await client.delete(f"{base}/{rule['id']}", headers=owner)).status_code == 204
        assert (await client.get(f"{base}/{rule['id']}", headers=owner)).status_code == 404


async def test_my_notifications_are_mine_and_checked(db, secret_box, seed_account):
    seeded, other = await seed_account(), await seed_account()
    ctx = panel_context(db, secret_box)
    viewer_id = random_telegram_id()
    async with db.tenant(seeded.account_id) as s:
        s.add(
            AccountMember(
                account_id=seeded.account_id, telegram_user_id=viewer_id, role=MemberRole.VIEWER
            )
        )
    viewer = await user_headers(ctx, viewer_id)
    owner = await user_headers(ctx, await _owner(db, seeded.account_id))
    url = (
        f"/api/v1/accounts/{seeded.account_id}/deployments/{seeded.deployment_id}/notifications/me"
    )
    async with panel_client(ctx) as client:
        nothing = await client.get(url, headers=viewer)
        assert nothing.status_code == 200 and nothing.json()["active"] is False
        saved = await client.put(
            url, json={"on_fail": True, "fail_below": 60, "digest_hour": 9}, headers=viewer
        )
        assert saved.status_code == 200, saved.text
        assert saved.json() | {"telegram_user_id": 0} == {
            "active": True,
            "deployment_id": seeded.deployment_id,
            "telegram_user_id": 0,
            "on_finish": False,
            "on_fail": True,
            "fail_below": 60,
            "on_stuck": False,
            "digest_hour": 9,
            "refused": False,
            "bot_username": "seed_bot",
        }
        assert saved.json()["telegram_user_id"] == viewer_id
        # The owner's settings (seeded: on_finish) are not the viewer's.
        assert (await client.get(url, headers=owner)).json()["on_finish"] is True

        for body, words in (
            ({"on_fail": True}, "give fail_below"),
            ({"digest_hour": 24}, "must be at most 23"),
            ({"fail_below": 0}, "must be at least 1"),
            ({"on_finsh": True}, "is not a field that can be given here"),
        ):
            bad = await client.put(url, json=body, headers=viewer)
            assert bad.status_code == 422 and words in bad.text, bad.text

        theirs = (
            f"/api/v1/accounts/{other.account_id}/deployments/{other.deployment_id}"
            "/notifications/me"
        )
        assert (await client.put(theirs, json={}, headers=viewer)).status_code == 404
        mixed = (
            f"/api/v1/accounts/{seeded.account_id}/deployments/{other.deployment_id}"
            "/notifications/me"
        )
        assert (await client.put(mixed, json={}, headers=viewer)).status_code == 404

        assert (await client.delete(url, headers=viewer)).status_code == 204
        assert (await client.get(url, headers=viewer)).json()["active"] is False


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("Reminders", "My notifications", "After 2 h of silence, up to 3 times")),
        ("ru", ("Напоминания", "Мои уведомления", "Через 2 ч тишины, не больше 3 раз")),
    ],
)
async def test_deployment_and_run_pages_show_reminders_and_notifications(
    db, secret_box, seed_account, language, words
):
    seeded = await seed_account()
    ctx = panel_context(db, secret_box)
    owner = await _owner(db, seeded.account_id)
    page = f"/accounts/{seeded.account_id}/deployments/{seeded.deployment_id}"
    async with web_browser(ctx, accept_language=language) as browser:
        await browser.log_in(owner)
        await browser.get(page)
        bad = await browser.post(
            f"{page}/reminders", {"after": "soon", "unit": "hours", "text": "Hi"}
        )
        assert bad.status_code == 422
        said = {
            "en": "Wait before the reminder: must be a whole number, like 10",
            "ru": "Через сколько напомнить: должно быть целым числом, например 10",
        }
        assert said[language] in text_of(bad.text)
        made = await browser.post(
            f"{page}/reminders",
            {
                "after": "2",
                "unit": "hours",
                "max_count": "3",
                "text": "Come back!",
                "quiet_start": "22:00",
                "quiet_end": "09:00",
            },
            follow=True,
        )
        shown = text_of(made.text)
        for word in words:
            assert word in shown, (word, shown)
        assert "Come back!" in shown and "22:00" in shown

        refused = await browser.post(f"{page}/notifications", {"on_fail": "on", "action": "save"})
        assert refused.status_code == 422
        needs = {"en": "say below which percent", "ru": "укажите, ниже какого процента"}
        assert needs[language] in text_of(refused.text)
        saved = await browser.post(
            f"{page}/notifications",
            {"on_finish": "on", "on_stuck": "on", "action": "save"},
            follow=True,
        )
        assert saved.status_code == 200
        # Telegram refused the bot's message to the owner: the page says what to do.
        async with db.tenant(seeded.account_id) as s:
            await s.execute(
                update(MemberNotification)
                .where(MemberNotification.telegram_user_id == owner)
                .values(refused_at=func.now())
            )
        shown = text_of((await browser.get(page)).text)
        press_start = "press Start" if language == "en" else "нажмите «Старт»"
        assert press_start in shown and "@seed_bot" in shown
        run_page = await browser.get(f"/accounts/{seeded.account_id}/runs/{seeded.run_id}")
        assert run_page.status_code == 200
        run_text = text_of(run_page.text)
        expected = "0 of 3" if language == "en" else "0 из 3"
        assert expected in run_text, run_text
