"""The fake OpenAI-compatible server, driven by the project's real LLM client over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from adapters.llm import LLMError, OpenAICompatibleClient, OpenAIConfig
from tests.fakes.openai_api import FakeOpenAI

pytestmark = pytest.mark.integration


def _client(fake: FakeOpenAI, key: str | None = "sk-school-a", timeout_s: float = 5.0):
    return OpenAICompatibleClient(OpenAIConfig(fake.base_url, key, "gpt-test", timeout_s))


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


async def test_the_real_client_gets_replies_and_the_key_it_used_is_recorded():
    async with FakeOpenAI() as fake:
        school_a, school_b = _client(fake, "sk-school-a"), _client(fake, "sk-school-b")
        try:
            first = await school_a.complete(1, None, [{"role": "user", "content": "Привет"}], 0.2)
            stop = await school_b.complete(
                2, "gpt-big", [{"role": "user", "content": "конец"}], None
            )
        finally:
            await school_a.close()
            await school_b.close()
    assert first == "Ответ: Привет"
    assert stop == "{STOP}"
    assert [r.api_key for r in fake.completions()] == ["sk-school-a", "sk-school-b"]
    assert [r.body["model"] for r in fake.completions()] == ["gpt-test", "gpt-big"]
    assert fake.completions()[0].body["temperature"] == 0.2


async def test_reply_is_scriptable_per_test():
    async with FakeOpenAI() as fake:
        fake.reply = lambda messages: f"{len(messages)} messages seen"
        client = _client(fake)
        try:
            text = await client.complete(
                1,
                None,
                [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                None,
            )
        finally:
            await client.close()
    assert text == "2 messages seen"


async def test_injected_failures_reach_the_client_and_then_service_resumes():
    async with FakeOpenAI() as fake:
        client = _client(fake, timeout_s=0.3)
        messages = [{"role": "user", "content": "ещё раз"}]
        try:
            fake.fail_next(1, 500)
            with pytest.raises(LLMError, match="500"):
                await client.complete(1, None, messages, None)
            fake.fail_next(1, 429)
            with pytest.raises(LLMError, match="429"):
                await client.complete(1, None, messages, None)
            fake.fail_next(1, "timeout")
            started = time.monotonic()
            with pytest.raises(LLMError):
                await client.complete(1, None, messages, None)
            assert time.monotonic() - started < 5  # the client's timeout, not the fake's hang
            assert await client.complete(1, None, messages, None) == "Ответ: ещё раз"
        finally:
            await client.close()
    assert [r.status for r in fake.completions()][:2] == [500, 429]
    assert fake.completions()[-1].status == 200


async def test_unknown_api_key_is_refused_like_openai_does():
    async with FakeOpenAI(api_keys={"sk-good"}) as fake, httpx.AsyncClient() as http:
        refused = await http.post(
            fake.base_url + "/chat/completions",
            headers={"Authorization": "Bearer sk-stolen"},
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        accepted = await http.post(
            fake.base_url + "/chat/completions",
            headers={"Authorization": "Bearer sk-good"},
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
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
    async with FakeOpenAI(latency=0.3) as fake:
        client = _client(fake)
        try:
            started = time.monotonic()
            await client.complete(1, None, [{"role": "user", "content": "hi"}], None)
            elapsed = time.monotonic() - started
        finally:
            await client.close()
    assert elapsed >= 0.3
