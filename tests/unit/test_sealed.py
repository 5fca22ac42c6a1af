"""Sealed form values (the simulator's state): what the panel sealed comes back; anything
changed, sealed for another purpose or with another secret, or too long, does not."""

from __future__ import annotations

from panel_api.web.sealed import seal, unseal
from storage.crypto import SecretBox, generate_key

BOX = SecretBox.from_key_string(generate_key())
VALUE = {"v": 7, "u": "tg:1", "s": None, "a": [["button", "1"], ["text", "Привет"]]}


def test_a_sealed_value_comes_back():
    assert unseal(BOX, "simulator", seal(BOX, "simulator", VALUE), max_chars=10_000) == VALUE


def test_a_changed_value_or_seal_is_refused():
    sealed = seal(BOX, "simulator", VALUE)
    body, mac = sealed.rsplit(".", 1)
    other = seal(BOX, "simulator", {**VALUE, "v": 8}).rsplit(".", 1)[0]
    flipped = mac[:-1] + ("1" if mac[-1] == "0" else "0")
    for forged in (f"{other}.{mac}", f"{body}.{flipped}", body, f"{body}.", "", "."):
        assert unseal(BOX, "simulator", forged, max_chars=10_000) is None


def test_another_purpose_or_secret_does_not_open_it():
    sealed = seal(BOX, "simulator", VALUE)
    assert unseal(BOX, "other", sealed, max_chars=10_000) is None
    assert (
        unseal(SecretBox.from_key_string(generate_key()), "simulator", sealed, max_chars=10_000)
        is None
    )


def test_a_value_longer_than_the_page_makes_is_refused_before_anything_else():
    sealed = seal(BOX, "simulator", VALUE)
    assert unseal(BOX, "simulator", sealed, max_chars=len(sealed) - 1) is None
    assert unseal(BOX, "simulator", sealed, max_chars=len(sealed)) == VALUE
