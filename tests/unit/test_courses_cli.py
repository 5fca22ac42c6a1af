"""`coursebot validate` and `coursebot play`, driven with scripted input like a person would."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from courses.cli import play_main, validate_main
from courses.llm import EchoChat, LLMError, OpenAICompatibleChat, chat_model_for
from tests.course_files import DEMO, FIXTURES

SMALL_COURSE = """\
Intro:
  type: message
  text: Welcome
  button: Start
q_1:
  type: quiz
  text: 2 + 2?
  answers:
    - text: "4"
      correct: yes
      feedback: Right
    - text: "5"
      feedback: Wrong
q_2:
  type: input
  text: Capital of Italy?
  correct_answer: Rome
  feedback_correct: Correct
  feedback_incorrect: No, Rome
Result:
  type: test
  prefix: q_
  text: "Score {score}/{maxscore}"
  score:
    0: Perfect
    100: Review needed
Review:
  type: revision
  prefix: q_
  text: Let's review
  no_mistakes: Nothing to review
Done:
  type: end
  text: Bye
"""


class Script:
    """A scripted terminal: answers prompts from `lines`, then EOF; records everything."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []
        self.out: list[str] = []

    def read(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    def write(self, text: str) -> None:
        self.out.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.out)


def write_course(tmp_path: Path, text: str, name: str = "course.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def play(argv: list[str], script: Script, **kwargs: Any) -> int:
    return play_main(argv, read=script.read, write=script.write, **kwargs)


# --- validate ------------------------------------------------------------------------------


def test_validate_legacy_format_courses_succeeds_and_lists_warnings() -> None:
    out: list[str] = []
    files = [str(p) for p in sorted(FIXTURES.glob("*.yaml"))]
    assert validate_main(files, write=out.append) == 0
    assert f"{FIXTURES / 'words_and_charts.yaml'}: OK, 95 elements" in out
    assert (
        f"{FIXTURES / 'editor_quirks.yaml'}:22: warning: element 'Greeting', "
        "field 'media': media entry 'http' is not an http(s) URL; Telegram will reject it"
    ) in out
    assert out[-1].startswith("OK: 6 files checked, 0 errors, ")


def test_validate_reports_errors_with_file_and_line_and_fails(tmp_path: Path) -> None:
    broken = write_course(tmp_path, "A:\n  type: message\n  text: [x]\nB:\n  type: nope\n")
    out: list[str] = []
    assert validate_main([broken, str(DEMO)], write=out.append) == 1
    assert out == [
        f"{broken}:3: error: element 'A', field 'text': expected text, got a list",
        f"{broken}:5: error: element 'B', field 'type': unknown element type 'nope'; known "
        "types: message, audio, input, quiz, question, multi_choice, dialog, miniapp, test, "
        "jump, revision, delay, end, section",
        f"{DEMO}: OK, 21 elements",
        "FAILED: 2 files checked, 2 errors, 0 warnings",
    ]


def test_validate_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    out: list[str] = []
    assert validate_main([str(tmp_path / "nope.yaml")], write=out.append) == 1
    assert "cannot read file" in out[0]
    assert validate_main([], write=out.append) == 2


# --- play ----------------------------------------------------------------------------------


def test_play_demo_course_to_the_end() -> None:
    script = Script(
        "1",  # Let's go
        "1",  # Full tour
        "2",  # quiz: Paris
        "8",  # planets
        "3,1,2",  # wrong order on purpose
        "1 3",  # multi_choice: Python + Rust
        "2",  # opinion
        "1",  # continue after the score
        "1",  # start the review
        "1 2 3",  # review: ordering again, right this time
        "hello",  # dialog (offline stub)
        "tell me more",
        "bye",
        "Jupiter",  # mini app: typed text stands for the data the app would send
        "1",  # jump: Continue now
        "",  # skip the 10s pause
        "1",  # Finish
    )
    assert play([str(DEMO)], script) == 0
    assert script.lines == []  # every scripted answer was needed
    text = script.text
    assert "Your score: 3 out of 4.\n\nGood job, a few things to review." in text
    assert "   [score 0/1]" in text and "   [score 1/1]" in text
    assert "(offline stub) You said: hello" in text
    assert "⏳ waiting 10s — press Enter to skip " in script.prompts
    assert script.out[-1] == "🏁 Course completed."


def test_play_scores_test_verdict_and_revision(tmp_path: Path) -> None:
    script = Script("1", "2", "Paris", "1", "Rome")
    assert play([write_course(tmp_path, SMALL_COURSE)], script) == 0
    assert script.out == [
        "(Playing {}; dialogs are answered by an offline stub (set OPENAI_BASE_URL to use a "
        "model); Ctrl-D quits)\n".format(tmp_path / "course.yaml"),
        "Welcome",
        "  [1] Start",
        "📊 2 + 2?",
        "  (1) 4",
        "  (2) 5",
        "   [score 0/1]",
        "Wrong",
        "Capital of Italy?",
        "   [score 0/1]",
        "No, Rome",
        "Score 0/2\n\nReview needed",
        "Let's review",
        "📊 2 + 2?",
        "  (1) 4",
        "  (2) 5",
        "   [score 1/1]",
        "Right",
        "Capital of Italy?",
        "   [score 1/1]",
        "Correct",
        "Bye",
        "🏁 Course completed.",
    ]


def test_play_rejects_invalid_choices_and_asks_again(tmp_path: Path) -> None:
    script = Script("7", "start", "1", "1 2", "²", "1", "", "Rome")
    play([write_course(tmp_path, SMALL_COURSE)], script)
    assert script.out.count("Type a number from 1 to 1.") == 2
    assert script.out.count("Type a number from 1 to 2.") == 2
    assert "(type your answer)" in script.out


def test_play_ends_cleanly_on_end_of_input(tmp_path: Path) -> None:
    script = Script("1")
    assert play([write_course(tmp_path, SMALL_COURSE)], script) == 0
    assert script.out[-1] == "\n(end of input: leaving the course)"


def test_play_refuses_a_broken_course(tmp_path: Path) -> None:
    path = write_course(tmp_path, "A:\n  type: quiz\n  text: q\n")
    script = Script()
    assert play([path], script) == 1
    assert script.out == [
        f"{path}:1: error: element 'A', field 'answers': missing required field 'answers'",
        f"{path}: cannot play, 1 error",
    ]
    assert script.prompts == []


LEGACY_DELAY = """\
Pause:
  type: delay
  text: Module 1 done
  continue: Ready for module 2?
  yes_text: Yes
  no_text: Not yet
After:
  type: end
  text: Module 2
"""


def test_play_fast_skips_delays_and_legacy_delay_asks_until_yes(tmp_path: Path) -> None:
    script = Script("2", "1")
    assert play([write_course(tmp_path, LEGACY_DELAY), "--fast"], script) == 0
    assert script.out[1:] == [
        "Module 1 done",
        "⏳ waiting 1d — skipped (--fast)",
        "Ready for module 2?",
        "  [1] Yes",
        "  [2] Not yet",
        "⏳ waiting 1d — skipped (--fast)",
        "Ready for module 2?",
        "  [1] Yes",
        "  [2] Not yet",
        "Module 2",
        "🏁 Course completed.",
    ]


def test_play_without_fast_waits_for_enter_at_each_delay(tmp_path: Path) -> None:
    script = Script("", "2", "", "1")
    assert play([write_course(tmp_path, LEGACY_DELAY)], script) == 0
    assert script.prompts == ["⏳ waiting 1d — press Enter to skip ", "> "] * 2


def test_play_stops_a_course_that_loops_without_input(tmp_path: Path) -> None:
    looping = "Pause:\n  type: delay\n  wait: 1s\n  goto: Pause\n"
    script = Script()
    assert play([write_course(tmp_path, looping), "--fast"], script) == 1
    assert script.out[-1] == "Stopped after 1000 steps without any input: the course loops."
    assert script.prompts == []


DIALOG_COURSE = """\
Name:
  type: input
  text: Your name?
Chat:
  type: dialog
  text: Let's talk.
  prompt: "Tutor for {{Name}}."
  model: gpt-4
  temperature: 0.3
After:
  type: end
  text: Done
"""


class RecordingChat:
    def __init__(self, *replies: str | LLMError) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str | None, list[dict[str, Any]], float | None]] = []

    def complete(
        self, model: str | None, messages: Sequence[Mapping[str, Any]], temperature: float | None
    ) -> str:
        self.calls.append((model, [dict(m) for m in messages], temperature))
        reply = self.replies.pop(0)
        if isinstance(reply, LLMError):
            raise reply
        return reply


def test_play_dialog_uses_the_chat_model_and_stops_on_marker(tmp_path: Path) -> None:
    chat = RecordingChat("Nice to meet you, Ann!", "Goodbye! {STOP}")
    script = Script("Ann", "hi", "bye")
    assert play([write_course(tmp_path, DIALOG_COURSE)], script, chat=chat) == 0
    model, messages, temperature = chat.calls[0]
    assert (model, temperature) == ("gpt-4", 0.3)
    assert messages[0]["role"] == "system" and "Ann" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "hi"}
    assert "Nice to meet you, Ann!" in script.out
    assert "Goodbye!" in script.out
    assert script.out[-2:] == ["Done", "🏁 Course completed."]


def test_play_dialog_survives_a_failing_model(tmp_path: Path) -> None:
    chat = RecordingChat(
        LLMError("no answer from http://llm/chat/completions within 60s"), "ok {STOP}"
    )
    script = Script("Ann", "hi", "again")
    assert play([write_course(tmp_path, DIALOG_COURSE)], script, chat=chat) == 0
    assert "⚠️  LLM request failed: no answer from http://llm/chat/completions within 60s" in (
        script.out
    )
    assert len(chat.calls) == 2  # the student could write again after the failure
    assert script.out[-1] == "🏁 Course completed."


def test_offline_stub_ends_the_dialog_after_a_few_turns(tmp_path: Path) -> None:
    script = Script("Ann", "one", "two", "three")
    assert play([write_course(tmp_path, DIALOG_COURSE)], script, chat=EchoChat()) == 0
    assert "(offline stub) You said: two" in script.out
    assert script.out[-2:] == ["Done", "🏁 Course completed."]


# --- OpenAI-compatible client --------------------------------------------------------------


def completion(content: str) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


def test_openai_compatible_client_sends_a_chat_completion_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion("Hello!"))

    chat = OpenAICompatibleChat(
        "http://llm.local/v1/",
        api_key="sk-secret",
        model_override="local-model",
        transport=httpx.MockTransport(handler),
    )
    reply = chat.complete("gpt-4", [{"role": "user", "content": "hi"}], 0.5)
    assert reply == "Hello!"
    [request] = seen
    assert str(request.url) == "http://llm.local/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-secret"
    assert json.loads(request.content) == {
        "model": "local-model",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5,
    }


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (lambda r: httpx.Response(500, text="overloaded"), "answered HTTP 500: overloaded"),
        (lambda r: httpx.Response(200, text="not json"), "unexpected answer"),
        (lambda r: httpx.Response(200, json={"choices": []}), "unexpected answer"),
        (lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), "within 60s"),
        (lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)), "cannot reach"),
    ],
)
def test_openai_compatible_client_failures_are_clear_and_secret_free(
    handler: Any, message: str
) -> None:
    chat = OpenAICompatibleChat(
        "http://llm.local/v1", api_key="sk-secret", transport=httpx.MockTransport(handler)
    )
    with pytest.raises(LLMError) as caught:
        chat.complete(None, [{"role": "user", "content": "hi"}], None)
    assert message in str(caught.value)
    assert "sk-secret" not in str(caught.value)


def test_chat_model_is_chosen_from_the_settings() -> None:
    stub, description = chat_model_for(None)
    assert isinstance(stub, EchoChat) and "offline stub" in description
    real, description = chat_model_for("http://llm.local/v1", "sk-secret", "llama3")
    assert isinstance(real, OpenAICompatibleChat)
    assert description == "dialogs are answered by http://llm.local/v1 (llama3)"
