"""The pages for what the API could do and the panel could not: members and roles, the audit
log, upgrading a live deployment, its price and allow-list, deleting and comparing courses,
and the platform operator's area. Driven like a browser (forms with CSRF tokens, redirects),
each checked for what a person would see and for what their role may not do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select

from panel_api.context import PanelContext
from storage.models import AccountMember, Course, LlmSettings, MemberRole
from storage.repositories import accounts, audit, members, runs
from tests.integration import seeding
from tests.integration.conftest import SeededAccount
from tests.integration.inbox_support import apply_inbox_events
from tests.integration.test_panel_support import (
    SUPERADMIN_ID,
    panel_client,
    panel_context,
    user_headers,
)
from tests.integration.test_web_support import Browser, text_of, web_browser

pytestmark = pytest.mark.integration

V1 = (
    "intro:\n  type: message\n  text: Hi\n  button: Go\n\nold_step:\n  type: message\n  text: Old\n"
)
V2 = (
    "intro:\n  type: message\n  text: Hello\n  button: Go\n\n"
    "chat:\n  type: dialog\n  text: Talk to me\n  prompt: You are a tutor.\n\n"
    "new_step:\n  type: end\n  text: New\n"
)
_ids = iter(range(93_100_000, 93_200_000))


async def _owner(db, account_id: int) -> int:
    async with db.tenant(account_id) as s:
        return await s.scalar(
            select(AccountMember.telegram_user_id).where(AccountMember.role == MemberRole.OWNER)
        )


async def _member(db, account_id: int, role: MemberRole, username: str | None = None) -> int:
    user_id = next(_ids)
    async with db.tenant(account_id) as s:
        await members.add(s, account_id, telegram_user_id=user_id, role=role, username=username)
    return user_id


async def _browser(stack: AsyncExitStack, ctx, user_id: int) -> Browser:
    browser = await stack.enter_async_context(web_browser(ctx))
    await browser.log_in(user_id)
    return browser


@dataclass
class School:
    """A seeded account and the panel as its people see it; their browsers close with the
    test."""

    seeded: SeededAccount
    ctx: PanelContext
    stack: AsyncExitStack

    @property
    def account_id(self) -> int:
        return self.seeded.account_id

    async def browser(self, user_id: int) -> Browser:
        return await _browser(self.stack, self.ctx, user_id)


@pytest.fixture
async def school(db, secret_box, seed_account) -> AsyncIterator[School]:
    seeded = await seed_account()
    async with AsyncExitStack() as stack:
        yield School(seeded, panel_context(db, secret_box), stack)


def _forms(page: str) -> set[str]:
    """Where the page's forms post: the actions it offers."""
    return set(re.findall(r'<form[^>]* method="post" action="([^"]+)"', page))


# --- members --------------------------------------------------------------------------------


async def test_members_page_owner_invites_changes_and_removes(db, school):
    aid = school.account_id
    url = f"/accounts/{aid}/members"
    owner = await school.browser(await _owner(db, aid))
    page = await owner.get(url)
    assert page.status_code == 200
    assert "Add a member" in text_of(page.text)

    newcomer = next(_ids)
    added = await owner.post(url, {"who": str(newcomer), "role": "teacher"}, follow=True)
    assert "Member added." in text_of(added.text)
    row = re.search(rf'<tr data-member="{newcomer}" data-role="(\w+)"', added.text)
    assert row and row.group(1) == "teacher"

    unknown = await owner.post(url, {"who": "@nobody_here", "role": "viewer"})
    assert unknown.status_code == 422
    assert "Nobody called @nobody_here has written to this account's bots yet" in text_of(
        unknown.text
    )

    changed = await owner.post(f"{url}/{newcomer}", {"role": "creator"}, follow=True)
    assert f'data-member="{newcomer}" data-role="creator"' in changed.text

    removed = await owner.post(f"{url}/{newcomer}/remove", follow=True)
    assert "Member removed." in text_of(removed.text)
    assert f'data-member="{newcomer}"' not in removed.text
    async with db.tenant(aid) as s:
        assert await members.get(s, aid, newcomer) is None


async def test_members_page_hides_what_a_role_may_not_do(db, school):
    aid = school.account_id
    owner_id = await _owner(db, aid)
    admin_id = await _member(db, aid, MemberRole.ADMIN)
    teacher_id = await _member(db, aid, MemberRole.TEACHER)
    url = f"/accounts/{aid}/members"
    teacher = await school.browser(teacher_id)
    seen = await teacher.get(url)
    assert seen.status_code == 200
    assert f'data-member="{owner_id}"' in seen.text  # the list, with everyone's roles
    assert _forms(seen.text) == {"/logout", "/language"}  # and not one action
    assert "Add a member" not in text_of(seen.text)
    forged = await teacher.post(f"{url}/{owner_id}/remove")
    assert forged.status_code == 403

    admin = await school.browser(admin_id)
    as_admin = await admin.get(url)
    actions = _forms(as_admin.text)
    assert f"{url}/{teacher_id}" in actions and f"{url}/{teacher_id}/remove" in actions
    # Owners are an owner's business: no controls on their row, no "owner" to choose.
    assert f"{url}/{owner_id}" not in actions and f"{url}/{owner_id}/remove" not in actions
    assert 'value="owner"' not in as_admin.text
    refused = await admin.post(f"{url}/{teacher_id}", {"role": "owner"})
    assert refused.status_code == 403
    assert "Only an owner can make someone an owner." in text_of(refused.text)

    owner = await school.browser(owner_id)
    as_owner = await owner.get(url)
    assert 'value="owner"' in as_owner.text
    # The only owner: nothing offered on their row that the API would refuse.
    assert f"{url}/{owner_id}/remove" not in _forms(as_owner.text)
    assert "the only owner" in text_of(as_owner.text)
    last_owner = await owner.post(f"{url}/{owner_id}/remove")
    assert last_owner.status_code == 409
    assert "An account needs at least one owner" in text_of(last_owner.text)


# --- audit log ------------------------------------------------------------------------------


async def test_audit_log_page_filters_and_pages(db, school):
    aid = school.account_id
    owner_id = await _owner(db, aid)
    async with db.tenant(aid) as s:
        for n in range(60):
            await audit.record(
                s, aid, actor="tg:1", action="bot.update", object_type="bot", object_id=n
            )
    admin_id = await _member(db, aid, MemberRole.ADMIN, username="ada_admin")
    admin = await school.browser(admin_id)
    await admin.get(f"/accounts/{aid}/members")
    await admin.post(
        f"/accounts/{aid}/members", {"who": str(next(_ids)), "role": "viewer"}, follow=True
    )
    owner = await school.browser(owner_id)
    first = await owner.get(f"/accounts/{aid}/audit")
    assert first.status_code == 200
    shown = text_of(first.text)
    assert "@ada_admin added a member" in shown  # newest first, in words
    assert "tg:1 changed a bot" in shown  # an actor who is no member keeps their id
    assert first.text.count("<li data-action=") == 50
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    second = await owner.get(older.group(1).replace("&amp;", "&"))
    assert 0 < second.text.count("<li data-action=") <= 50
    assert "added a member" not in text_of(second.text)

    members_only = await owner.get(f"/accounts/{aid}/audit?area=member")
    actions = set(re.findall(r'<li data-action="([^"]+)"', members_only.text))
    assert actions == {"member.add"}
    bad = await owner.get(f"/accounts/{aid}/audit?area=DROP%20TABLE")
    assert bad.status_code == 422
    assert "This filter was not understood" in text_of(bad.text)

    teacher = await school.browser(await _member(db, aid, MemberRole.TEACHER))
    assert (await teacher.get(f"/accounts/{aid}/audit")).status_code == 403
    nav = (await teacher.get(f"/accounts/{aid}")).text
    assert f"/accounts/{aid}/members" in nav and f"/accounts/{aid}/audit" not in nav


# --- upgrading a deployment -----------------------------------------------------------------


async def _two_versions_deployed(browser: Browser, seeded) -> tuple[str, int, int, int]:
    """A course with V1 and V2 uploaded through the pages, V1 deployed to the seed bot."""
    aid = seeded.account_id
    made = await browser.post(f"/accounts/{aid}/courses", {"source": V1, "title": "Upgradable"})
    assert made.status_code == 303, made.text
    course_url = made.headers["location"].split("/versions/")[0]
    v1 = int(made.headers["location"].split("/versions/")[1].split("?")[0])
    second = await browser.post(f"{course_url}/versions", {"source": V2})
    assert second.status_code == 303, second.text
    v2 = int(second.headers["location"].split("/versions/")[1].split("?")[0])
    deployed = await browser.post(
        f"/accounts/{aid}/deployments",
        {"course_version_id": str(v1), "bot_id": str(seeded.bot_id), "environment": "prod"},
    )
    assert deployed.status_code == 303, deployed.text
    deployment_url = deployed.headers["location"].split("?")[0]
    return deployment_url, int(deployment_url.rsplit("/", 1)[1]), v1, v2


async def _runs_at(db, seeded, deployment_id: int, version_id: int) -> dict[int, int]:
    started = {}
    async with db.tenant(seeded.account_id) as s:
        for current in ("intro", "old_step", None):
            chat = next(_ids)
            run = await seeding.run(
                s,
                seeded.account_id,
                deployment_id=deployment_id,
                course_version_id=version_id,
                bot_id=seeded.bot_id,
                chat_id=chat,
                telegram_user_id=chat,
                state={"current": current} if current else {},
                current_element=current,
            )
            started[run.id] = current
    return started


@pytest.mark.parametrize("choice", ["move", "stay"])
async def test_upgrade_says_what_happens_to_active_runs_and_does_it(db, school, choice):
    seeded = school.seeded
    aid = school.account_id
    owner = await school.browser(await _owner(db, aid))
    await owner.get(f"/accounts/{aid}/courses")
    deployment_url, deployment_id, v1, v2 = await _two_versions_deployed(owner, seeded)
    started = await _runs_at(db, seeded, deployment_id, v1)

    async with db.tenant(aid) as s:  # the seed has one; this school has no language model
        await s.execute(delete(LlmSettings).where(LlmSettings.account_id == aid))
    page = await owner.get(deployment_url)
    assert 'data-lack="language_model"' not in page.text  # v1 has no dialog
    assert f'action="{deployment_url}/upgrade"' in page.text
    assert f'<option value="{v2}">v2</option>' in page.text

    review = await owner.get(f"{deployment_url}/upgrade?version={v2}")
    assert review.status_code == 200, text_of(review.text)
    shown = text_of(review.text)
    assert "What v2 changes compared with v1" in shown
    assert "Added: 2: chat , new_step" in shown and "Removed: 1: old_step" in shown
    assert "Changed: 1: intro (text)" in shown
    added_line = '<div class="dl add"><span class="sr-only">added: </span>+  text: Hello</div>'
    assert added_line in review.text
    assert "Active runs on another version: 3" in shown
    assert "If moved: 2 can continue at the same step" in shown
    assert "1 stand on a step the new version removed" in shown
    # v2 has a dialog and the account no language model: said before upgrading.
    assert 'data-lack="language_model"' in review.text

    done = await owner.post(
        f"{deployment_url}/upgrade", {"course_version_id": str(v2), "runs": choice}
    )
    assert done.status_code == 200
    result = text_of(done.text)
    assert "The deployment now serves v2" in result
    moved, stayed = (2, 1) if choice == "move" else (0, 3)
    assert f"Moved to the new version: {moved} students" in result
    assert f"Stay on their version: {stayed}" in result
    assert await apply_inbox_events(db, aid) == moved  # as the runtime applies them
    async with db.tenant(aid) as s:
        versions = {
            current: (await runs.get(s, aid, run_id)).course_version_id
            for run_id, current in started.items()
        }
    if choice == "move":  # old_step is gone in v2: that run stays on v1
        assert versions == {"intro": v2, "old_step": v1, None: v2}
    else:
        assert versions == {"intro": v1, "old_step": v1, None: v1}


async def test_upgrade_asks_for_a_choice_and_refuses_other_courses(db, school):
    seeded = school.seeded
    aid = school.account_id
    owner = await school.browser(await _owner(db, aid))
    await owner.get(f"/accounts/{aid}/courses")
    deployment_url, _, _, v2 = await _two_versions_deployed(owner, seeded)
    no_choice = await owner.post(f"{deployment_url}/upgrade", {"course_version_id": str(v2)})
    assert no_choice.status_code == 422
    assert "Choose what happens to students" in text_of(no_choice.text)
    foreign = await owner.get(f"{deployment_url}/upgrade?version={seeded.version_id}")
    assert foreign.status_code == 422
    assert "That version belongs to another course" in text_of(foreign.text)

    teacher = await school.browser(await _member(db, aid, MemberRole.TEACHER))
    seen = await teacher.get(deployment_url)
    assert f"{deployment_url}/upgrade" not in seen.text
    assert "Version v2 of this course exists" in text_of(seen.text)
    assert (await teacher.get(f"{deployment_url}/upgrade?version={v2}")).status_code == 403


# --- price, decline text, allow-list --------------------------------------------------------


async def test_price_decline_text_and_allow_list_on_the_deployment_page(db, school):
    seeded = school.seeded
    aid = school.account_id
    url = f"/accounts/{aid}/deployments/{seeded.deployment_id}"
    owner = await school.browser(await _owner(db, aid))
    await owner.get(url)
    saved = await owner.post(
        f"{url}/settings",
        {
            "price_amount": "990,50",
            "price_currency": "EUR",
            "restricted": "on",
            "decline_text": "Ask the school office to be let in.",
        },
        follow=True,
    )
    shown = text_of(saved.text)
    assert "990.50 EUR" in shown
    assert "only people on the allow-list" in shown
    assert "Ask the school office to be let in." in shown
    bad_price = await owner.post(
        f"{url}/settings", {"price_amount": "lots", "price_currency": "RUB"}
    )
    assert bad_price.status_code == 422
    assert 'id="settings-errors"' in bad_price.text
    assert 'value="lots"' in bad_price.text  # what was typed is kept

    wrong = await owner.post(f"{url}/allow-list", {"entries": "123456 @Alice_W, not a name!"})
    assert wrong.status_code == 422
    assert "entries are neither Telegram user ids nor @usernames" in text_of(wrong.text)
    assert "not a name!" in text_of(wrong.text) or "name!" in text_of(wrong.text)

    imported = await owner.post(
        f"{url}/allow-list", {"entries": "123456 @Alice_W,\n@bob_b 123456"}, follow=True
    )
    listed = text_of(imported.text)
    assert "Allow-list updated." in listed and "Added: 3; already on the list: 0." in listed
    for who in ("123456", "@alice_w", "@bob_b"):
        assert who in listed
    entry = re.search(r'<li data-entry="(\d+)"><span class="who">@bob_b', imported.text)
    assert entry is not None
    removed = await owner.post(f"{url}/allow-list/{entry.group(1)}/remove", follow=True)
    assert "@bob_b" not in text_of(removed.text)

    viewer = await school.browser(await _member(db, aid, MemberRole.VIEWER))
    as_viewer = await viewer.get(url)
    assert "@alice_w" in text_of(as_viewer.text)  # students.read: the list is shown
    assert not {a for a in _forms(as_viewer.text) if "/allow-list" in a or "/settings" in a}

    teacher = await school.browser(await _member(db, aid, MemberRole.TEACHER))
    as_teacher = await teacher.get(url)
    actions = _forms(as_teacher.text)
    assert f"{url}/allow-list" in actions  # students.manage
    assert f"{url}/settings" not in actions  # deployments.manage: not a teacher's


# --- courses: delete and compare ------------------------------------------------------------


async def test_course_delete_refused_while_deployed_and_done_otherwise(db, school):
    seeded = school.seeded
    aid = school.account_id
    course_url = f"/accounts/{aid}/courses/{seeded.course_id}"
    owner = await school.browser(await _owner(db, aid))
    page = await owner.get(course_url)
    shown = text_of(page.text)
    assert "This course cannot be deleted while deployments use it: 1." in shown
    assert f"{course_url}/delete" not in _forms(page.text)
    forged = await owner.post(f"{course_url}/delete")
    assert forged.status_code == 409
    assert "The course was not deleted: a deployment uses it." in text_of(forged.text)

    made = await owner.post(f"/accounts/{aid}/courses", {"source": V1, "title": "Spare"})
    spare_url = made.headers["location"].split("/versions/")[0]
    spare_page = await owner.get(spare_url)
    assert f"{spare_url}/delete" in _forms(spare_page.text)
    deleted = await owner.post(f"{spare_url}/delete", follow=True)
    assert "Course deleted." in text_of(deleted.text) and "Spare" not in text_of(deleted.text)

    teacher = await school.browser(await _member(db, aid, MemberRole.TEACHER))
    as_teacher = text_of((await teacher.get(course_url)).text)
    assert "Delete the course" not in as_teacher
    async with db.tenant(aid) as s:
        titles = set(await s.scalars(select(Course.title).where(Course.account_id == aid)))
    assert "Spare" not in titles and "Seed" in titles


async def test_compare_two_versions(db, school):
    aid = school.account_id
    viewer = await school.browser(await _member(db, aid, MemberRole.VIEWER))
    owner = await school.browser(await _owner(db, aid))
    await owner.get(f"/accounts/{aid}/courses")
    made = await owner.post(f"/accounts/{aid}/courses", {"source": V1, "title": "Twice"})
    course_url = made.headers["location"].split("/versions/")[0]
    await owner.post(f"{course_url}/versions", {"source": V2})
    assert f'action="{course_url}/compare"' in (await viewer.get(course_url)).text

    compared = await viewer.get(f"{course_url}/compare?from=1&to=2")
    assert compared.status_code == 200
    shown = text_of(compared.text)
    assert "From v1 to v2" in shown and "Removed: 1: old_step" in shown
    removed_line = '<div class="dl del"><span class="sr-only">removed: </span>-  text: Hi</div>'
    assert removed_line in compared.text
    default = await viewer.get(f"{course_url}/compare")
    assert "From v1 to v2" in text_of(default.text)  # the latest against the one before
    missing = await viewer.get(f"{course_url}/compare?from=1&to=9")
    assert missing.status_code == 422
    assert "This course has no such version" in text_of(missing.text)


# --- the operator area ----------------------------------------------------------------------


async def test_operator_area_is_404_and_hidden_for_everyone_else(db, school):
    aid = school.account_id
    owner = await school.browser(await _owner(db, aid))
    overview = await owner.get(f"/accounts/{aid}")
    assert 'href="/admin"' not in overview.text
    assert (await owner.get("/admin")).status_code == 404
    for tail in ("", "/suspend", "/restore"):
        assert (await owner.post(f"/admin/accounts/{aid}{tail}", {})).status_code == 404
    async with db.tenant(aid) as s:
        assert (await accounts.get(s, aid)).deleted_at is None


async def test_operator_sees_usage_changes_plans_suspends_and_restores(db, school):
    aid = school.account_id
    operator = await school.browser(SUPERADMIN_ID)
    page = await operator.get("/admin")
    assert page.status_code == 200 and 'href="/admin"' in page.text
    card = page.text.split(f'data-account="{aid}"', 1)[1].split("</section>", 1)[0]
    usage = text_of(card)
    # The seed: one bot, one course, one student with an active run, on the free plan.
    assert "Bots: 1 / 1" in usage and "Courses: 1 / 3" in usage
    assert "Active students: 1 / 100" in usage

    changed = await operator.post(
        f"/admin/accounts/{aid}",
        {"plan": "pro", "max_bots": "7", "max_courses_unlimited": "on"},
        follow=True,
    )
    card = changed.text.split(f'data-account="{aid}"', 1)[1].split("</section>", 1)[0]
    assert "Bots: 1 / 7" in text_of(card) and "Courses: 1 / ∞" in text_of(card)
    assert "Active students: 1 / 5000" in text_of(card)
    bad = await operator.post(f"/admin/accounts/{aid}", {"plan": "pro", "max_bots": "-1"})
    assert bad.status_code == 422 and "Bots: give a whole number" in text_of(bad.text)

    suspended = await operator.post(f"/admin/accounts/{aid}/suspend", follow=True)
    assert "Account suspended" in text_of(suspended.text)
    async with db.tenant(aid) as s:
        assert (await accounts.get(s, aid)).deleted_at is not None
    again = await operator.post(f"/admin/accounts/{aid}/suspend")
    assert again.status_code == 409
    owner = await school.browser(await _owner(db, aid))
    await owner.get("/accounts")
    refused = await owner.post(f"/accounts/{aid}/restore", follow=True)
    assert "only they can restore it" in text_of(refused.text)
    restored = await operator.post(f"/admin/accounts/{aid}/restore", follow=True)
    assert "Account restored." in text_of(restored.text)
    async with db.tenant(aid) as s:
        assert (await accounts.get(s, aid)).deleted_at is None
        entries = {r.action for r in await audit.list_recent(s, aid, action="account")}
    assert {"account.plan", "account.suspend", "account.restore"} <= entries


async def test_admin_api_lists_usage_and_suspends(db, school):
    ctx = school.ctx
    aid = school.account_id
    admin = await user_headers(ctx, SUPERADMIN_ID)
    async with panel_client(ctx) as client:
        listing = await client.get("/api/v1/admin/accounts", headers=admin)
        mine = next(a for a in listing.json() if a["id"] == aid)
        assert mine["usage"] == {"bots": 1, "courses": 1, "active_students": 1}
        assert mine["limits"]["max_bots"] == 1
        owner = await user_headers(ctx, await _owner(db, aid))
        assert (
            await client.post(f"/api/v1/admin/accounts/{aid}/suspend", headers=owner)
        ).status_code == 404
        suspended = await client.post(f"/api/v1/admin/accounts/{aid}/suspend", headers=admin)
        assert suspended.status_code == 200 and suspended.json()["deleted_at"] is not None
        hidden = await client.get("/api/v1/admin/accounts", headers=admin)
        assert aid not in {a["id"] for a in hidden.json()}  # suspended: listed on request
        assert (await client.get(f"/api/v1/accounts/{aid}/bots", headers=owner)).status_code == 404
        # The owner cannot undo the operator's suspension, on the API or on the page.
        by_owner = await client.post(f"/api/v1/accounts/{aid}/restore", headers=owner)
        assert by_owner.status_code == 409 and "operator suspended" in by_owner.json()["detail"]
        restored = await client.post(f"/api/v1/admin/accounts/{aid}/restore", headers=admin)
        assert restored.status_code == 200 and restored.json()["deleted_at"] is None
        twice = await client.post(f"/api/v1/admin/accounts/{aid}/restore", headers=admin)
        assert twice.status_code == 409
        nowhere = await client.post("/api/v1/admin/accounts/999999999/suspend", headers=admin)
        assert nowhere.status_code == 404


# --- the account itself, a deployment nobody started, a bot's token and plain /start --------


async def test_account_rename_delete_restore_and_purge(db, secret_box, make_account):
    ctx = panel_context(db, secret_box)
    owner_id = next(_ids)
    aid = await make_account(owner_telegram_user_id=owner_id, name="Old name")
    admin_id = await _member(db, aid, MemberRole.ADMIN)
    async with AsyncExitStack() as stack:
        admin = await _browser(stack, ctx, admin_id)
        as_admin = await admin.get(f"/accounts/{aid}/settings")
        assert "School name" in text_of(as_admin.text)
        assert f"/accounts/{aid}/delete" not in _forms(as_admin.text)  # owners only
        assert (await admin.post(f"/accounts/{aid}/delete")).status_code == 403

        owner = await _browser(stack, ctx, owner_id)
        renamed = await owner.post(f"/accounts/{aid}/settings", {"name": "New name"}, follow=True)
        assert "Settings saved." in text_of(renamed.text)
        assert 'value="New name"' in renamed.text
        deleted = await owner.post(f"/accounts/{aid}/delete", follow=True)
        listing = text_of(deleted.text)
        assert "Account deleted" in listing and "New name deleted" in listing
        assert f"/accounts/{aid}/restore" in _forms(deleted.text)
        assert (await owner.get(f"/accounts/{aid}")).status_code == 404
        restored = await owner.post(f"/accounts/{aid}/restore", follow=True)
        assert "Account restored." in text_of(restored.text)

        await owner.post(f"/accounts/{aid}/delete")
        await owner.get("/accounts")
        purged = await owner.post(f"/accounts/{aid}/purge", follow=True)
        assert "Account erased for good." in text_of(purged.text)
        assert "New name" not in text_of(purged.text)
    async with db.tenant(aid) as s:
        assert await accounts.get(s, aid) is None


async def test_deleting_a_deployment_only_while_nobody_started_it(db, school):
    seeded = school.seeded
    aid = school.account_id
    used = f"/accounts/{aid}/deployments/{seeded.deployment_id}"
    owner = await school.browser(await _owner(db, aid))
    page = await owner.get(used)
    assert "Students have started it (1 runs)" in text_of(page.text)
    assert f"{used}/delete" not in _forms(page.text)
    forged = await owner.post(f"{used}/delete")
    assert forged.status_code == 422
    assert "The deployment was not deleted: students have started it" in text_of(forged.text)

    fresh = await owner.post(
        f"/accounts/{aid}/deployments",
        {
            "course_version_id": str(seeded.version_id),
            "bot_id": str(seeded.bot_id),
            "environment": "test",
        },
    )
    fresh_url = fresh.headers["location"].split("?")[0]
    assert f"{fresh_url}/delete" in _forms((await owner.get(fresh_url)).text)
    gone = await owner.post(f"{fresh_url}/delete", follow=True)
    assert "Deployment deleted." in text_of(gone.text)
    assert (await owner.get(fresh_url)).status_code == 404


async def test_bot_default_deployment_and_token_form(db, school):
    seeded = school.seeded
    aid = school.account_id
    url = f"/accounts/{aid}/bots/{seeded.bot_id}"
    owner = await school.browser(await _owner(db, aid))
    page = await owner.get(f"/accounts/{aid}/bots")
    assert f"#{seeded.deployment_id} Seed v1" in text_of(page.text)
    chosen = await owner.post(
        f"{url}/default", {"default_deployment_id": str(seeded.deployment_id)}, follow=True
    )
    picked = f'<option value="{seeded.deployment_id}" selected>#{seeded.deployment_id} Seed'
    assert picked in chosen.text
    cleared = await owner.post(f"{url}/default", {"default_deployment_id": ""}, follow=True)
    assert picked not in cleared.text and "The bot is updated." in text_of(cleared.text)
    bad = await owner.post(f"{url}/token", {"token": "not a token"})
    assert bad.status_code == 422 and 'id="action-errors"' in bad.text

    viewer = await school.browser(await _member(db, aid, MemberRole.VIEWER))
    as_viewer = await viewer.get(f"/accounts/{aid}/bots")
    assert not {a for a in _forms(as_viewer.text) if a.startswith(url)}
