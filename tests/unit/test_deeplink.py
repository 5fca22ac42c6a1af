"""Deep link payloads come from anyone who can type a URL: only one exact shape may pass."""

from __future__ import annotations

import pytest

from botapi.deeplink import (
    DeepLink,
    build_start_link,
    build_start_payload,
    parse_start_payload,
)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("cd_1_abc", DeepLink(1, "abc")),
        ("cd_999_x", DeepLink(999, "x")),
        # Tokens may contain `_` and `-`: only the first two underscores split.
        ("cd_42_a_b_c", DeepLink(42, "a_b_c")),
        ("cd_42__lead", DeepLink(42, "_lead")),
        ("cd_7_-x-", DeepLink(7, "-x-")),
        ("cd_123456789012345678_" + "t" * 32, DeepLink(123456789012345678, "t" * 32)),
    ],
)
def test_valid_payloads_parse(payload: str, expected: DeepLink) -> None:
    assert parse_start_payload(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "",
        "cd",
        "cd_",
        "cd_1",
        "cd_1_",
        "cd__x",
        "cd_01_x",  # leading zero: two spellings of one id would be two different links
        "cd_0_x",
        "cd_-1_x",
        "cd_+1_x",
        "cd_1e3_x",
        "cd_1234567890123456789_x",  # 19 digits
        "cd_1_" + "t" * 33,  # token too long
        "cd_1_" + "a" * 195,  # 200 chars
        "CD_1_x",
        "xcd_1_x",
        "cd_1_x\n",
        "cd_1_x\nDROP",
        "cd_1_x y",
        " cd_1_x",
        "cd_1_x' OR '1'='1",
        "cd_1_x;DROP TABLE run;--",
        "cd_1_тoken",  # Cyrillic т
        "cd_١_x",  # Arabic-Indic digit one: str.isdigit() would accept it
        "cd_1_x\x00",
        "cd_1_%41",
        "cd_1_x.y",
        "cd_1_x/..",
    ],
)
def test_hostile_payloads_are_rejected(payload: str | None) -> None:
    assert parse_start_payload(payload) is None


def test_non_string_payload_is_rejected() -> None:
    assert parse_start_payload(12345) is None  # type: ignore[arg-type]


def test_build_link_round_trips_through_parse() -> None:
    link = build_start_link("@School_bot", 17, "Ab_c-9")
    assert link == "https://t.me/School_bot?start=cd_17_Ab_c-9"
    payload = link.split("?start=", 1)[1]
    assert parse_start_payload(payload) == DeepLink(17, "Ab_c-9")


def test_longest_buildable_payload_fits_telegram_limit() -> None:
    payload = build_start_payload(10**18 - 1, "z" * 32)
    assert len(payload) <= 64
    assert parse_start_payload(payload) == DeepLink(10**18 - 1, "z" * 32)


@pytest.mark.parametrize(
    ("deployment_id", "token"),
    [
        (0, "x"),
        (-5, "x"),
        (10**18, "x"),  # 19 digits
        (True, "x"),
        ("5", "x"),
        (1, ""),
        (1, "t" * 33),
        (1, "t" * 61),  # would make the payload longer than Telegram's 64
        (1, "bad token"),
        (1, "тoken"),
    ],
)
def test_build_rejects_what_parse_would_reject(deployment_id: object, token: str) -> None:
    with pytest.raises(ValueError):
        build_start_payload(deployment_id, token)  # type: ignore[arg-type]


@pytest.mark.parametrize("username", ["", "@", "abc", "1school_bot", "school bot", "a" * 33])
def test_build_link_rejects_bad_usernames(username: str) -> None:
    with pytest.raises(ValueError):
        build_start_link(username, 1, "x")
