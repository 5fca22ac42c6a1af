"""What the bot itself says to a student (not course content), in Russian and English.

Students see these when something about their link or access is wrong; they must understand
what happened and what to do, in their Telegram language (Russian unless it is clearly not).
"""

from __future__ import annotations

from enum import Enum


class Notice(Enum):
    INVALID_LINK = "invalid_link"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_EXHAUSTED = "token_exhausted"
    TOKEN_NOT_YOURS = "token_not_yours"
    COURSE_UNAVAILABLE = "course_unavailable"
    NOT_ALLOWED = "not_allowed"
    BANNED = "banned"
    NO_DEFAULT_COURSE = "no_default_course"
    NO_ACTIVE_RUN = "no_active_run"
    ALREADY_RUNNING = "already_running"
    PREVIOUS_RUN_ENDED = "previous_run_ended"
    ASSISTANT_UNAVAILABLE = "assistant_unavailable"
    COURSE_FULL = "course_full"
    PAYMENT_REQUIRED = "payment_required"
    PAYMENT_BUTTON = "payment_button"
    PAYMENT_UNAVAILABLE = "payment_unavailable"
    ACCESS_REFUNDED = "access_refunded"
    # student commands (runtime/commands.py)
    MENU_PROGRESS = "menu_progress"
    MENU_HELP = "menu_help"
    MENU_RESTART = "menu_restart"
    MENU_STOP = "menu_stop"
    HELP_DEFAULT = "help_default"
    PROGRESS_STEP = "progress_step"
    PROGRESS_SCORE = "progress_score"
    NEXT_BUTTON = "next_button"
    NEXT_TEXT = "next_text"
    NEXT_POLL = "next_poll"
    NEXT_DIALOG = "next_dialog"
    NEXT_MINIAPP = "next_miniapp"
    NEXT_LLM = "next_llm"
    NEXT_TIMER = "next_timer"
    NEXT_NOTHING = "next_nothing"
    CONFIRM_RESTART = "confirm_restart"
    CONFIRM_STOP = "confirm_stop"
    YES_RESTART = "yes_restart"
    YES_STOP = "yes_stop"
    CANCEL = "cancel"
    CANCELLED = "cancelled"
    RESTARTED = "restarted"
    STOPPED = "stopped"
    QUESTION_EXPIRED = "question_expired"
    # a broadcast's "continue the course" button (runtime/resume_button.py)
    CONTINUE_COURSE = "continue_course"
    NOTHING_TO_CONTINUE = "nothing_to_continue"


_TEXTS: dict[Notice, dict[str, str]] = {
    Notice.INVALID_LINK: {
        "ru": "Эта ссылка недействительна. Попросите у преподавателя новую ссылку на курс.",
        "en": "This link is not valid. Please ask your teacher for a new course link.",
    },
    Notice.TOKEN_REVOKED: {
        "ru": "Эта ссылка была отозвана. Попросите у преподавателя новую.",
        "en": "This link has been revoked. Please ask your teacher for a new one.",
    },
    Notice.TOKEN_EXPIRED: {
        "ru": "Срок действия этой ссылки истёк. Попросите у преподавателя новую.",
        "en": "This link has expired. Please ask your teacher for a new one.",
    },
    Notice.TOKEN_EXHAUSTED: {
        "ru": "По этой ссылке уже записалось максимальное число участников.",
        "en": "This link has already been used by the maximum number of students.",
    },
    Notice.TOKEN_NOT_YOURS: {
        "ru": "Эта ссылка выдана другому участнику. Попросите у преподавателя свою ссылку.",
        "en": "This link was issued to someone else. Please ask your teacher for your own link.",
    },
    Notice.COURSE_UNAVAILABLE: {
        "ru": "Этот курс сейчас недоступен.",
        "en": "This course is not available right now.",
    },
    Notice.NOT_ALLOWED: {
        "ru": "Этот курс доступен только приглашённым участникам.",
        "en": "This course is only open to invited students.",
    },
    Notice.BANNED: {
        "ru": "Доступ к курсам этого бота для вас закрыт.",
        "en": "Your access to this bot's courses has been closed.",
    },
    Notice.NO_DEFAULT_COURSE: {
        "ru": "Здравствуйте! Чтобы начать курс, откройте ссылку, которую вам дал преподаватель.",
        "en": "Hello! To start a course, open the link your teacher gave you.",
    },
    Notice.NO_ACTIVE_RUN: {
        "ru": "Сейчас у вас нет активного курса. Откройте ссылку на курс, чтобы начать.",
        "en": "You have no course in progress. Open a course link to start one.",
    },
    Notice.ALREADY_RUNNING: {
        "ru": "Вы уже проходите этот курс — продолжайте с того места, где остановились.",
        "en": "You are already taking this course — carry on from where you stopped.",
    },
    Notice.PAYMENT_REQUIRED: {
        "ru": "Это платный курс: {price}. После оплаты он начнётся автоматически.",
        "en": "This is a paid course: {price}. It starts automatically once you have paid.",
    },
    Notice.PAYMENT_BUTTON: {"ru": "Оплатить", "en": "Pay"},
    Notice.PAYMENT_UNAVAILABLE: {
        "ru": "Оплата этого курса сейчас недоступна. Попробуйте позже или напишите преподавателю.",
        "en": "Payment for this course is unavailable now. Try later or contact your teacher.",
    },
    Notice.ACCESS_REFUNDED: {
        "ru": "Оплата курса возвращена, доступ к нему закрыт.",
        "en": "Your payment was refunded, so your access to the course has ended.",
    },
    Notice.COURSE_FULL: {
        "ru": "Сейчас на курсах этой школы нет свободных мест. Попробуйте позже.",
        "en": "This school's courses have no free places right now. Please try again later.",
    },
    Notice.ASSISTANT_UNAVAILABLE: {
        "ru": "ИИ-ассистент для этого курса сейчас недоступен — продолжим без него.",
        "en": "The AI assistant is not available for this course right now; let's go on.",
    },
    Notice.PREVIOUS_RUN_ENDED: {
        "ru": "Предыдущий курс завершён, начинаем новый.",
        "en": "Your previous course has been closed; starting the new one.",
    },
    Notice.MENU_PROGRESS: {
        "ru": "Где я в курсе и что дальше",
        "en": "Where I am in the course and what's next",
    },
    Notice.MENU_HELP: {"ru": "Справка по курсу", "en": "Help for this course"},
    Notice.MENU_RESTART: {"ru": "Начать курс заново", "en": "Start the course again"},
    Notice.MENU_STOP: {"ru": "Остановить курс", "en": "Stop the course"},
    Notice.HELP_DEFAULT: {
        "ru": "Вы проходите курс в этом чате: отвечайте на сообщения бота кнопками или "
        "текстом, как он просит.\n\n"
        "/progress — где вы сейчас и что дальше\n"
        "/restart — начать курс заново\n"
        "/stop — остановить курс\n\n"
        "С вопросами о курсе обращайтесь к преподавателю.",
        "en": "You take the course in this chat: answer the bot's messages with the buttons "
        "or by typing, as it asks.\n\n"
        "/progress — where you are and what comes next\n"
        "/restart — start the course again\n"
        "/stop — stop the course\n\n"
        "For questions about the course, contact your teacher.",
    },
    Notice.PROGRESS_STEP: {
        "ru": "Вы на шаге {step} из {total}: пройдено {percent}% курса.",
        "en": "You are at step {step} of {total}: {percent}% of the course done.",
    },
    Notice.PROGRESS_SCORE: {
        "ru": "Баллы за тесты и задания: {score} из {maxscore}.",
        "en": "Your score in tests and quizzes so far: {score} of {maxscore}.",
    },
    Notice.NEXT_BUTTON: {
        "ru": "Дальше: нажмите кнопку под последним сообщением.",
        "en": "Next: press a button under the latest message.",
    },
    Notice.NEXT_TEXT: {
        "ru": "Дальше: курс ждёт вашего ответа — напишите его сообщением.",
        "en": "Next: the course is waiting for your answer — type it as a message.",
    },
    Notice.NEXT_POLL: {
        "ru": "Дальше: ответьте на последний опрос.",
        "en": "Next: answer the latest poll.",
    },
    Notice.NEXT_DIALOG: {
        "ru": "Дальше: ваша очередь в диалоге — напишите сообщение.",
        "en": "Next: it is your turn in the conversation — write a message.",
    },
    Notice.NEXT_MINIAPP: {
        "ru": "Дальше: откройте мини-приложение кнопкой под последним сообщением.",
        "en": "Next: open the mini app with the button under the latest message.",
    },
    Notice.NEXT_LLM: {
        "ru": "Дальше: ассистент готовит ответ, подождите немного.",
        "en": "Next: the assistant is preparing a reply, please wait a moment.",
    },
    Notice.NEXT_TIMER: {
        "ru": "Дальше: следующее сообщение придёт в {when}.",
        "en": "Next: the next message arrives at {when}.",
    },
    Notice.NEXT_NOTHING: {
        "ru": "Дальше: подождите, бот скоро продолжит.",
        "en": "Next: please wait, the bot will go on shortly.",
    },
    Notice.CONFIRM_RESTART: {
        "ru": "Начать курс заново? Ваши ответы и баллы в этом прохождении будут сброшены, "
        "курс начнётся с первого шага.",
        "en": "Start the course again? Your answers and score in this run will be reset, "
        "and the course begins at the first step.",
    },
    Notice.CONFIRM_STOP: {
        "ru": "Остановить курс? Бот больше не будет присылать сообщения этого курса.",
        "en": "Stop the course? The bot will send you nothing more from it.",
    },
    Notice.YES_RESTART: {"ru": "Да, начать заново", "en": "Yes, restart"},
    Notice.YES_STOP: {"ru": "Да, остановить", "en": "Yes, stop"},
    Notice.CANCEL: {"ru": "Отмена", "en": "Cancel"},
    Notice.CANCELLED: {
        "ru": "Хорошо, продолжаем с того же места.",
        "en": "All right, carry on from where you are.",
    },
    Notice.RESTARTED: {
        "ru": "Начинаем курс заново.",
        "en": "Starting the course again from the beginning.",
    },
    Notice.STOPPED: {
        "ru": "Курс остановлен. Чтобы пройти его снова, ещё раз откройте ссылку на курс "
        "от преподавателя.",
        "en": "The course is stopped. To take it again, open the course link from your "
        "teacher once more.",
    },
    Notice.QUESTION_EXPIRED: {
        "ru": "Этот вопрос уже неактуален. Отправьте команду ещё раз, если нужно.",
        "en": "That question is out of date. Send the command again if you need it.",
    },
    Notice.CONTINUE_COURSE: {"ru": "Продолжить курс", "en": "Continue the course"},
    Notice.NOTHING_TO_CONTINUE: {
        "ru": "Сейчас у вас нет курса в процессе: возможно, вы его уже прошли. Чтобы начать "
        "курс, откройте ссылку на него от преподавателя.",
        "en": "You have no course in progress: perhaps you have already finished it. To "
        "start a course, open its link from your teacher.",
    },
}


def bot_language(language_code: str | None) -> str:
    """The language the bot's own words take for a Telegram language code: Russian when
    none is known, English for any language we have no words in."""
    language = (language_code or "ru").split("-")[0].lower()
    return language if language in ("ru", "en") else "en"


def notice_text(notice: Notice, language_code: str | None) -> str:
    return _TEXTS[notice][bot_language(language_code)]
