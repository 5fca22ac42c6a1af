"""Student-facing texts the engine itself produces (hints, fallbacks, default labels).

Course texts come from the YAML; these only fill gaps the format leaves open. They are
Russian because the legacy courses and their students are.
"""

PRESS_BUTTON = "Чтобы продолжить, нажмите кнопку под сообщением выше."
ANSWER_POLL = "Выберите вариант ответа в опросе выше."
OPEN_MINIAPP = "Откройте приложение кнопкой выше или нажмите «Продолжить»."
WAIT_FOR_REPLY = "Секунду, я ещё отвечаю на предыдущее сообщение…"
WAIT_FOR_TIMER = "Продолжим чуть позже — я сам напишу, когда придёт время."
LLM_FAILED = "Не получилось ответить — попробуйте написать ещё раз чуть позже."
TYPE_INSTEAD_OF_VOICE = "Не удалось распознать голосовое сообщение — напишите, пожалуйста, текстом."
VOICE_RECOGNISED = "🎤 Распознано: {text}"
MINIAPP_CONTINUE = "Продолжить"
DEFAULT_YES = "Да"
DEFAULT_NO = "Нет"
