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
}


def notice_text(notice: Notice, language_code: str | None) -> str:
    texts = _TEXTS[notice]
    language = (language_code or "ru").split("-")[0].lower()
    return texts.get(language, texts["en"])
