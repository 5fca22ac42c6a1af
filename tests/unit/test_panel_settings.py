"""The panel's settings refuse a login bot token that is not one, without echoing it."""

from __future__ import annotations

import pytest

from panel_api.settings import PanelSettings, PanelSettingsError
from storage.config import Settings

TOKEN = "123456789:AAE" + "x" * 32


def test_a_bot_token_from_botfather_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSEBOT_LOGIN_BOT_TOKEN", TOKEN)
    settings = PanelSettings.from_settings(Settings.from_env())
    assert settings.login_bot_token is not None
    assert settings.login_bot_token.reveal() == TOKEN
    assert settings.login_bot_id == 123456789


@pytest.mark.parametrize(
    "raw", ["not a token", "123456:short", "123456:" + "x" * 32 + "/getMe?", ":AAE" + "x" * 32]
)
def test_a_malformed_login_bot_token_stops_the_start_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("COURSEBOT_LOGIN_BOT_TOKEN", raw)
    settings = Settings.from_env()
    assert raw not in repr(settings)
    with pytest.raises(PanelSettingsError, match="COURSEBOT_LOGIN_BOT_TOKEN") as caught:
        PanelSettings.from_settings(settings)
    assert raw not in str(caught.value)


@pytest.mark.parametrize(
    ("production", "raw", "secure"),
    [(False, None, False), (True, None, True), (True, "0", False), (False, "1", True)],
)
def test_secure_cookies_follow_production_unless_set(
    monkeypatch: pytest.MonkeyPatch, production: bool, raw: str | None, secure: bool
) -> None:
    monkeypatch.setenv("COURSEBOT_PRODUCTION", "1" if production else "0")
    if raw is None:
        monkeypatch.delenv("COURSEBOT_COOKIE_SECURE", raising=False)
    else:
        monkeypatch.setenv("COURSEBOT_COOKIE_SECURE", raw)
    assert PanelSettings.from_settings(Settings.from_env()).cookie_secure is secure


@pytest.mark.parametrize("name", ["COURSEBOT_LOGIN_MAX_AGE", "COURSEBOT_SESSION_MAX_AGE"])
def test_a_malformed_age_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "-5")
    with pytest.raises(ValueError, match=f"{name} must be a positive number of seconds"):
        Settings.from_env()
