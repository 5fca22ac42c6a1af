"""Drive share pages go out as direct downloads (Telegram refuses HTML pages, DESIGN §12)."""

from __future__ import annotations

import json

import pytest

from adapters.telegram.media_links import fetchable_url
from adapters.telegram.render import render
from engine.effects import SendAudio, SendMedia

DIRECT = "https://drive.usercontent.google.com/download?id=1AbC-d_9&export=download"


@pytest.mark.parametrize(
    "share",
    [
        "https://drive.google.com/file/d/1AbC-d_9/view?usp=sharing",
        "https://drive.google.com/file/d/1AbC-d_9/view",
        "https://drive.google.com/open?id=1AbC-d_9",
        "https://drive.google.com/uc?export=download&id=1AbC-d_9",
        "https://docs.google.com/uc?id=1AbC-d_9&export=download",
        "https://drive.usercontent.google.com/download?id=1AbC-d_9",
    ],
)
def test_every_drive_form_of_the_old_bot_becomes_the_direct_download(share: str) -> None:
    assert fetchable_url(share) == DIRECT


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/d/1AbC/photo.png",
        "https://example.org/pic.png?id=42",
        "https://drive.google.com/drive/folders",
    ],
)
def test_other_links_go_out_as_written(url: str) -> None:
    assert fetchable_url(url) == url


def test_a_drive_photo_an_album_and_an_audio_are_sent_from_drives_direct_download() -> None:
    share = "https://drive.google.com/file/d/1AbC-d_9/view?usp=sharing"
    (photo,) = render(7, SendMedia((share,), "Схема", None))
    assert photo.model_dump()["photo"] == DIRECT
    (album, _caption) = render(7, SendMedia((share, "https://x.org/b.png"), "Схема", None))
    assert [item["media"] for item in json.loads(album.model_dump()["media"])] == [
        DIRECT,
        "https://x.org/b.png",
    ]
    (audio,) = render(7, SendAudio((share,), None, None))
    assert audio.model_dump()["audio"] == DIRECT
