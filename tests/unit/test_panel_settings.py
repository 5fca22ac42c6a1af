"""The panel's settings refuse a login bot token that is not one, without echoing it."""

from __future__ import annotations

import pytest

from panel_api.settings import PanelSettings, PanelSettingsError

TOKEN = "123456789:AAE" + "x" * 32


def test_a_bot_token_from_botfather_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSEBOT_LOGIN_BOT_TOKEN", TOKEN)
    settings = PanelSettings.from_env()
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
    with pytest.raises(PanelSettingsError, match="COURSEBOT_LOGIN_BOT_TOKEN") as caught:
        PanelSettings.from_env()
    assert raw not in str(caught.value)
