"""Student-facing texts the engine itself produces (hints, fallbacks, default labels).

Course texts come from the YAML; these only fill gaps the format leaves open, so they speak
the course's language (`Course.language`), not the student's Telegram setting: a hint in
English between the Russian messages of a Russian course would read as a glitch. The old
bot's courses are Russian and get exactly the old bot's words.
"""

from __future__ import annotations

from enum import Enum


class Say(Enum):
    PRESS_BUTTON = "press_button"
    ANSWER_POLL = "answer_poll"
    OPEN_MINIAPP = "open_miniapp"
    WAIT_FOR_REPLY = "wait_for_reply"
    WAIT_FOR_TIMER = "wait_for_timer"
    LLM_FAILED = "llm_failed"
    TYPE_INSTEAD_OF_VOICE = "type_instead_of_voice"
    VOICE_RECOGNISED = "voice_recognised"  # {text}: the transcript
    MINIAPP_CONTINUE = "miniapp_continue"
    DEFAULT_YES = "default_yes"
    DEFAULT_NO = "default_no"


_TEXTS: dict[str, dict[Say, str]] = {
    "ru": {
        Say.PRESS_BUTTON: "Чтобы продолжить, нажмите кнопку под сообщением выше.",
        Say.ANSWER_POLL: "Выберите вариант ответа в опросе выше.",
        Say.OPEN_MINIAPP: "Откройте приложение кнопкой выше или нажмите «Продолжить».",
        Say.WAIT_FOR_REPLY: "Секунду, я ещё отвечаю на предыдущее сообщение…",
        Say.WAIT_FOR_TIMER: "Продолжим чуть позже — я сам напишу, когда придёт время.",
        Say.LLM_FAILED: "Не получилось ответить — попробуйте написать ещё раз чуть позже.",
        Say.TYPE_INSTEAD_OF_VOICE: (
            "Не удалось распознать голосовое сообщение — напишите, пожалуйста, текстом."
        ),
        Say.VOICE_RECOGNISED: "🎤 Распознано: {text}",
        Say.MINIAPP_CONTINUE: "Продолжить",
        Say.DEFAULT_YES: "Да",
        Say.DEFAULT_NO: "Нет",
    },
    "en": {
        Say.PRESS_BUTTON: "To go on, press the button under the message above.",
        Say.ANSWER_POLL: "Choose an answer in the poll above.",
        Say.OPEN_MINIAPP: "Open the app with the button above, or press “Continue”.",
        Say.WAIT_FOR_REPLY: "One moment, I am still answering your previous message…",
        Say.WAIT_FOR_TIMER: "We will go on a little later: I will write when it is time.",
        Say.LLM_FAILED: "I couldn't answer. Please try writing again a bit later.",
        Say.TYPE_INSTEAD_OF_VOICE: "I couldn't make out the voice message. Please type it.",
        Say.VOICE_RECOGNISED: "🎤 I heard: {text}",
        Say.MINIAPP_CONTINUE: "Continue",
        Say.DEFAULT_YES: "Yes",
        Say.DEFAULT_NO: "No",
    },
}

LANGUAGES = tuple(_TEXTS)

#: What to tell a student who asks for something the run cannot give now, by what it
#: waits for: a message typed while it waits for a button, a timer...; or a press on
#: "continue the course" while the next part will come by itself (engine/resume.py).
WAITING_HINTS: dict[str, Say] = {
    "button": Say.PRESS_BUTTON,
    "poll": Say.ANSWER_POLL,
    "webapp": Say.OPEN_MINIAPP,
    "llm": Say.WAIT_FOR_REPLY,
    "timer": Say.WAIT_FOR_TIMER,
}


def say(what: Say, language: str, **values: str) -> str:
    """The text in the course's language (English for a language without texts here)."""
    text = _TEXTS.get(language, _TEXTS["en"])[what]
    return text.format(**values) if values else text
