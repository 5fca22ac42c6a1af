"""The fake OpenAI-compatible server, spoken to over real HTTP as OpenAI clients do."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fakes.openai_api import FakeOpenAI

pytestmark = pytest.mark.integration


async def _chat(
    http: httpx.AsyncClient,
    fake: FakeOpenAI,
    messages: list[dict],
    *,
    key: str | None = "sk-school-a",
    model: str = "gpt-test",
    **extra,
) -> httpx.Response:
    """One request exactly as OpenAI-compatible clients send it."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": messages, **extra}
    return await http.post(fake.base_url + "/chat/completions", headers=headers, json=body)


def _content(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"]


async def test_chat_completion_answers_in_openai_shape_and_counts_tokens():
    async with FakeOpenAI() as fake, httpx.AsyncClient() as http:
        response = await http.post(
            fake.base_url + "/chat/completions",
            headers={"Authorization": "Bearer sk-school-a"},
            json={
                "model": "gpt-test",
                "messages": [
                    {"role": "system", "content": "Ты преподаватель."},
                    {"role": "user", "content": "Что такое дробь?"},
                ],
            },
        )
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-test"
    assert data["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Ответ: Что такое дробь?",
        "refusal": None,
    }
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert fake.usage_by_key["sk-school-a"].total_tokens == usage["total_tokens"]


async def test_replies_follow_the_dialog_and_the_key_used_is_recorded():
    async with FakeOpenAI() as fake, httpx.AsyncClient() as http:
        first = await _chat(
            http, fake, [{"role": "user", "content": "Привет"}], key="sk-a", temperature=0.2
        )
        stop = await _chat(
            http, fake, [{"role": "user", "content": "Всё, конец"}], key="sk-b", model="gpt-big"
        )
        stop_en = await _chat(http, fake, [{"role": "user", "content": "please STOP"}])
    assert _content(first) == "Ответ: Привет"
    assert _content(stop) == _content(stop_en) == "{STOP}"
    assert [r.api_key for r in fake.completions()] == ["sk-a", "sk-b", "sk-school-a"]
    assert [r.body["model"] for r in fake.completions()][:2] == ["gpt-test", "gpt-big"]
    assert fake.completions()[0].body["temperature"] == 0.2


async def test_reply_is_scriptable_per_test():
    async with FakeOpenAI() as fake, httpx.AsyncClient() as http:
        fake.reply = lambda messages: f"{len(messages)} messages seen"
        response = await _chat(
            http, fake, [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        )
    assert _content(response) == "2 messages seen"


async def test_injected_failures_reach_the_client_and_then_service_resumes():
    messages = [{"role": "user", "content": "ещё раз"}]
    async with FakeOpenAI() as fake, httpx.AsyncClient(timeout=0.3) as http:
        fake.fail_next(2, 500)
        fake.fail_next(1, 429)
        statuses = [(await _chat(http, fake, messages)).status_code for _ in range(3)]
        failed = (await _chat(http, fake, messages)).json()
        fake.fail_next(1, "timeout")
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await _chat(http, fake, messages)
        waited = time.monotonic() - started
        recovered = await _chat(http, fake, messages)
    assert statuses == [500, 500, 429]
    assert "choices" in failed  # the faults were used up: the fourth request is answered
    assert waited < 5  # the client's own timeout ended it, not the fake's hang
    assert recovered.status_code == 200 and _content(recovered) == "Ответ: ещё раз"


async def test_unknown_api_key_is_refused_like_openai_does():
    messages = [{"role": "user", "content": "hi"}]
    async with FakeOpenAI(api_keys={"sk-good"}) as fake, httpx.AsyncClient() as http:
        refused = await _chat(http, fake, messages, key="sk-stolen")
        missing = await _chat(http, fake, messages, key=None)
        accepted = await _chat(http, fake, messages, key="sk-good")
    assert missing.status_code == 401
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert accepted.status_code == 200


async def test_malformed_chat_request_gets_a_400_with_the_parameter_named():
    async with FakeOpenAI() as fake, httpx.AsyncClient() as http:
        response = await http.post(
            fake.base_url + "/chat/completions", json={"model": "m", "messages": []}
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"


async def test_audio_transcription_takes_multipart_and_returns_text():
    async with FakeOpenAI() as fake, httpx.AsyncClient() as http:
        spoken = await http.post(
            fake.base_url + "/audio/transcriptions",
            headers={"Authorization": "Bearer sk-voice"},
            files={"file": ("voice.ogg", "Мой ответ: семь".encode(), "audio/ogg")},
            data={"model": "whisper-1"},
        )
        as_text = await http.post(
            fake.base_url + "/audio/transcriptions",
            files={"file": ("voice.ogg", b"\xff\xfe\x00noise", "audio/ogg")},
            data={"model": "whisper-1", "response_format": "text"},
        )
        no_model = await http.post(
            fake.base_url + "/audio/transcriptions",
            files={"file": ("voice.ogg", b"x", "audio/ogg")},
        )
    assert spoken.status_code == 200 and spoken.json() == {"text": "Мой ответ: семь"}
    assert as_text.status_code == 200 and as_text.text == "распознанная речь"
    assert no_model.status_code == 400
    recorded = [r for r in fake.requests if r.path.endswith("/audio/transcriptions")]
    assert recorded[0].api_key == "sk-voice"
    assert recorded[0].body["model"] == "whisper-1"


async def test_latency_is_injected_into_every_answer():
    async with FakeOpenAI(latency=0.3) as fake, httpx.AsyncClient() as http:
        started = time.monotonic()
        response = await _chat(http, fake, [{"role": "user", "content": "hi"}])
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.3
