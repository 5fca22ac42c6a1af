"""Secrets at rest and in logs: bot tokens, webhook secrets, payment keys, the master key."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat

import pytest
from sqlalchemy import text

from storage.config import Settings
from storage.crypto import (
    DecryptionError,
    Secret,
    SecretBox,
    SecretKeyError,
    generate_key,
    load_secret_box,
)
from storage.repositories import bots, llm

pytestmark = pytest.mark.integration


async def _dump_all_text(owner_engine) -> str:
    """What a pg_dump would reveal: every text-like column of every table, as text."""
    async with owner_engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() "
                    "AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')"
                )
            )
        ).all()
        chunks = []
        for table, column in columns:
            values = await conn.scalars(text(f'SELECT "{column}"::text FROM "{table}"'))
            chunks.extend(v for v in values if v is not None)
    return "\n".join(chunks)


async def test_no_secret_is_stored_in_clear(db, seed_account, owner_engine, secret_box):
    seeded = await seed_account()
    async with owner_engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM bot WHERE id = :id"), {"id": seeded.bot_id})
        ).one()
    raw_bot = " ".join(str(value) for value in row)
    assert seeded.bot_token.reveal() not in raw_bot
    assert row.token_hash == hashlib.sha256(seeded.bot_token.reveal().encode()).hexdigest()
    assert secret_box.decrypt(row.token_ciphertext) == seeded.bot_token

    llm_key = Secret("sk-" + secrets.token_urlsafe(24))
    async with db.tenant(seeded.account_id) as s:
        await llm.set_settings(
            s,
            seeded.account_id,
            box=secret_box,
            base_url="https://llm.invalid/v1",
            api_key=llm_key,
            model="m",
        )
    dump = await _dump_all_text(owner_engine)
    for secret in (seeded.bot_token, seeded.webhook_secret, seeded.payment_secret, llm_key):
        assert secret.reveal() not in dump
    # The token's secret half alone (after "<bot id>:") is not there either.
    assert seeded.bot_token.reveal().split(":", 1)[1] not in dump


async def test_replacing_a_token_keeps_the_bot(db, seed_account, secret_box):
    seeded = await seed_account()
    new_token = Secret("12345:new-token-after-revoke")
    async with db.tenant(seeded.account_id) as s:
        bot = await bots.replace_token(
            s, seeded.account_id, seeded.bot_id, token=new_token, box=secret_box
        )
    assert secret_box.decrypt(bot.token_ciphertext) == new_token
    assert bot.public_id and bot.id == seeded.bot_id


def test_secrets_never_show_in_reprs_or_logs(caplog, tmp_path):
    key = generate_key()
    box = SecretBox.from_key_string(key)
    token = Secret("123:very-secret")
    settings = Settings().replace(
        secret_key=key, database_url="postgresql://u:dbpass@h/db", data_dir=tmp_path
    )
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info(
            "token=%s %r box=%r settings=%r", token, token, box, settings
        )
    rendered = caplog.text + f"{token} {token!r} {box!r} {settings!r}"
    for leaked in ("very-secret", key, "dbpass"):
        assert leaked not in rendered
    assert "***" in rendered


def test_production_without_a_key_refuses_to_start(tmp_path):
    settings = Settings().replace(production=True, secret_key=None, data_dir=tmp_path)
    with pytest.raises(SecretKeyError, match="COURSEBOT_SECRET_KEY is not set"):
        load_secret_box(settings)
    assert list(tmp_path.iterdir()) == []  # no key file was quietly generated


def test_production_reads_the_key_from_the_environment(monkeypatch, tmp_path):
    key = generate_key()
    monkeypatch.setenv("COURSEBOT_SECRET_KEY", key)
    monkeypatch.setenv("COURSEBOT_PRODUCTION", "1")
    monkeypatch.setenv("COURSEBOT_DATA_DIR", str(tmp_path))
    box = load_secret_box(Settings.from_env())
    assert SecretBox.from_key_string(key).decrypt(box.encrypt("x")).reveal() == "x"


@pytest.mark.parametrize("bad", ["not-a-key", "short", generate_key()[:-4]])
def test_malformed_key_is_a_clear_error(tmp_path, bad):
    with pytest.raises(SecretKeyError, match="must be a Fernet key"):
        load_secret_box(Settings().replace(secret_key=bad, data_dir=tmp_path))


def test_development_key_is_generated_once_private_and_reused(tmp_path):
    settings = Settings().replace(secret_key=None, data_dir=tmp_path / "data")
    first = load_secret_box(settings)
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    ciphertext = first.encrypt("bot-token")
    second = load_secret_box(settings)  # next start of the process
    assert second.decrypt(ciphertext).reveal() == "bot-token"
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]


def test_key_rotation_new_key_first_old_key_still_decrypts():
    old, new = generate_key(), generate_key()
    stored = SecretBox.from_key_string(old).encrypt("bot-token")
    rotated = SecretBox.from_key_string(f"{new},{old}")
    assert rotated.decrypt(stored).reveal() == "bot-token"
    with pytest.raises(DecryptionError, match="COURSEBOT_SECRET_KEY differs"):
        SecretBox.from_key_string(new).decrypt(stored)
