"""The project's own test courses (tests/fixtures/courses), loaded by the real loader and
played from start to finish through `step()` with scripted right and wrong answers: sent
texts, poll kinds, scores, test verdicts, revision contents, timers and dialog prompts are
what a student would see. Together the courses use every element type and the legacy forms,
so this is the end-to-end engine check a bare clone runs (the legacy courses' own check is
tests/unit/test_legacy_courses.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.effects import AskLLM, Finish, Schedule, SendAudio, SendMedia, SendText
from engine.model import Course
from tests.course_files import fixture
from tests.unit.student import (
    T0,
    Student,
    answer_polls,
    load_file,
    polls,
    scores,
    sends,
    shown,
)


def load(name: str) -> Course:
    return load_file(fixture(name))


# --- words_and_charts.yaml ------------------------------------------------------------------


def start_words() -> Student:
    student = Student(load("words_and_charts.yaml"))
    effects = student.start()
    # the intro is a plain message: straight on to the first poll
    assert isinstance(effects[0], SendText)
    assert shown(effects) == [
        "Look at the chart and pick the sentence that fits it.",
        "Which sentence describes the chart? (7/8)",
    ]
    assert [p.kind for p in polls(effects)] == ["quiz"]
    effects = student.choose("Profits jumped in 2012.")
    assert scores(effects) == {"warmup_1": (1.0, 1.0)}
    assert isinstance(sends(effects)[1], SendMedia) and sends(effects)[1].caption is None
    effects = student.choose("Profits halved in the last year.")
    assert scores(effects) == {"warmup_2": (0.0, 1.0)}
    assert shown(effects) == [
        "Look again.",
        "Hello! I am the word coach. Let's learn synonyms that make an essay sound richer.",
        "First, a few words every essay writer should know!",
    ]
    assert shown(student.press("Let's start")) == ["Quick (1/50)"]
    return student


def test_words_mixed_answers_short_path_revision_and_charts():
    student = start_words()
    assert shown(student.choose("Rapid")) == ["Right!", "Start (2/50)"]
    assert shown(student.choose("Finish")) == ["Look again.", "Large (3/50)"]
    assert shown(student.choose("Huge"))[-1] == (
        "You got 2 of 3 right!\n\nGood start, keep practising."  # 33 % errors -> 40
    )
    assert shown(student.press("OK")) == ["Ten more words?"]
    assert shown(student.press("Ten more!")) == ["Buy (11/50)"]
    answer_polls(student, "word_", lambda _: True)
    assert shown(student.last)[-1] == (
        "So far 12 of 13 right!\n\nGreat, nearly everything is right."  # 7.7 % -> 10
    )
    student.press("Next")
    effects = student.press("Stop here")
    assert shown(effects) == ["Made it!", "Let's fix the mistakes!"]
    # revision replays exactly the one mistake, then continues after the revision
    assert shown(student.press("Go")) == ["Start (2/50)"]
    effects = student.choose("Begin")
    assert shown(effects)[0] == "Exactly!"
    assert (
        isinstance(sends(effects)[-1], SendMedia)
        and sends(effects)[-1].buttons[0].text == "Let's start"
    )
    charts = student.press("Let's start")
    assert shown(charts) == [
        "Look at the chart and pick the sentence that fits it.",
        "True or false: Sales doubled between March and June (1/9)",
    ]
    asked = answer_polls(student, "chart_", lambda eid: eid != "chart_5")
    # each chart message (photo, no button) flows straight into its quiz
    assert [q[-5:] for q in asked] == [f"({n}/9)" for n in range(1, 10)]
    # 8/9 = 11 % errors; thresholds 0/4/8/9 (written as scores) match nothing -> text only
    assert shown(student.last)[-1] == "You read 8 of 9 charts right!"
    student.press("OK")
    while not student.finished:
        answer_polls(student, "chart2_", lambda _: True)
    assert student.finish_status() == "completed"
    assert student.state.answers["word_2"].score == 1.0


def test_words_all_wrong_long_path_replays_every_mistake_in_order():
    student = start_words()
    answer_polls(student, "word_", lambda _: False)
    assert shown(student.last)[-1] == "You got 0 of 3 right!\n\nLet's go over these again."
    for button, more in (
        ("OK", "Ten more!"),
        ("Next", "Yes!"),
        ("Next", "Ten more"),
        ("Next", "Bring them on"),
    ):
        student.press(button)
        student.press(more)
        answer_polls(student, "word_", lambda _: False)
    assert shown(student.last)[-1] == "All in all: 0 of 50 right!"
    effects = student.press("OK")
    assert shown(effects) == ["Made it!", "Let's fix the mistakes!"]
    effects = student.press("Go")
    replayed = [*shown(effects), *answer_polls(student, "word_", lambda _: True)[1:]]
    expected = [f"({n}/50)" for n in [1, 2, 3, *range(11, 51)]]
    assert [q.rsplit(" ", 1)[-1] for q in replayed] == expected
    assert shown(student.last)[-1].startswith("Essays often describe charts.")
    assert all(student.state.answers[f"word_{n}"].score == 1.0 for n in range(41, 51))


def test_words_all_right_has_no_mistakes_and_the_quirky_zero_threshold():
    student = start_words()
    answer_polls(student, "word_", lambda _: True)
    for button, more in (
        ("OK", "Ten more!"),
        ("Next", "Yes!"),
        ("Next", "Ten more"),
        ("Next", "Bring them on"),
    ):
        student.press(button)
        student.press(more)
        answer_polls(student, "word_", lambda _: True)
    # 0 % errors -> threshold 0, whose text the author meant for a score of 0
    assert shown(student.last)[-1] == (
        "All in all: 43 of 50 right!\n\nLet's repeat everything and try again another day."
    )
    effects = student.press("OK")
    assert shown(effects)[:2] == ["Made it!", "No mistakes, well done!"]


# --- legacy_forms.yaml ------------------------------------------------------------------------


def play_legacy_forms_until_fork() -> Student:
    student = Student(load("legacy_forms.yaml"))
    effects = student.start()
    assert [p.question for p in polls(effects)] == [
        "Yesterday it was ________ all day, so we stayed at home with a cup of tea."
    ]
    student.choose("rainy")
    effects = student.choose("thick fog")
    assert shown(effects)[0] == "Fog is not wind. Read the word again."
    html = sends(effects)[-1]
    assert isinstance(html, SendText) and html.parse_mode == "HTML"
    assert html.text.startswith("🌬 <b>Chilly</b>") and html.buttons[0].text == "Понятно!"
    effects = student.press("Понятно!")
    assert isinstance(sends(effects)[0], SendMedia) and polls(effects)[0].options == (
        "FALSE",
        "TRUE",
    )
    student.choose("FALSE")
    student.press("Дальше!")
    student.choose("TRUE")
    effects = student.choose("The wettest month was July.")
    # legacy delay: text now, ask to continue after one day
    assert shown(effects)[-1] == "Первый урок пройден! Второй откроется завтра в это же время."
    (pause,) = [e for e in effects if isinstance(e, Schedule)]
    assert pause.due_at == T0 + timedelta(days=1)
    ask = student.wait_for_timer()
    assert shown(ask) == ["Первый урок пройден! Перейти ко второму?"]
    assert [b.text for b in sends(ask)[0].buttons] == ["Перейти", "Позже"]
    assert any(isinstance(e, Schedule) for e in student.press("Позже"))
    assert shown(student.wait_for_timer()) == ["Первый урок пройден! Перейти ко второму?"]
    assert shown(student.press("Перейти")) == ["Cold (1/3)"]
    answer_polls(student, "word_", lambda eid: eid == "word_2")
    assert shown(student.last)[-1] == "Верных ответов: 1 из 3!\n\nНужно повторить"  # 67 %
    assert shown(student.press("Ок!")) == ["Повторим слова с ошибками!"]
    assert shown(student.press("Повторить")) == ["Cold (1/3)"]
    student.choose("Freezing")
    effects = student.choose("Breezy")
    assert shown(effects)[-1] == "Молодец! Закончим или продолжим?"
    return student


def test_legacy_forms_full_path_through_every_element():
    student = play_legacy_forms_until_fork()
    assert shown(student.press("Продолжим!")) == [
        "Как называется город, где идёт дождь чаще всего в этом курсе? Подсказка: London."
    ]
    effects = student.type("  london ")
    assert scores(effects) == {"City_Input": (1.0, 1.0)}
    assert shown(effects) == ["Верно", "Сообщение без кнопки", "Сообщение с кнопкой"]
    album = sends(student.press("Хорошо!"))[0]
    assert isinstance(album, SendMedia) and len(album.urls) == 4
    assert album.buttons[0].text == "Вижу"
    effects = student.press("Вижу")
    assert [p.kind for p in polls(effects)] == ["regular"]
    assert shown(student.choose("5 Отлично!")) == [
        "Спасибо!",
        "Напиши, какая погода сейчас у тебя за окном",
    ]
    effects = student.type("солнечно")
    assert scores(effects) == {} and polls(effects)[0].multiple
    effects = student.choose("Зима", "Осень")
    assert shown(effects)[0] == "Да, зима — одно из них\n\nДа, осень — одно из них\n\nВерно!"
    assert scores(effects) == {"Seasons": (1.0, 1.0)}
    effects = student.choose("Да")
    assert shown(effects)[0] == "Верно, зонт нужен!"
    assert shown(effects)[1].startswith("Давай поговорим о погоде.")
    student.type("Люблю снег")
    ask = student.last_ask()
    assert ask.model is None and ask.messages[0]["content"].startswith("# Role")
    assert shown(student.llm("Снег — это snow. Почему он тебе нравится?")) == [
        "Снег — это snow. Почему он тебе нравится?"
    ]
    student.type("Он красивый")
    effects = student.llm("Согласен, snow is beautiful!\n{STOP}")
    assert shown(effects) == ["Согласен, snow is beautiful!", "Урок окончен."]
    assert student.press("Ок")[-1] == Finish("completed")


def test_legacy_forms_short_path_jumps_to_the_end():
    student = play_legacy_forms_until_fork()
    assert shown(student.press("Закончим")) == ["Урок окончен."]
    student.press("Ок")
    assert student.finish_status() == "completed"


# --- every_element.yaml -----------------------------------------------------------------------


def play_every_element_until_crossroads() -> Student:
    student = Student(load("every_element.yaml"))
    effects = student.start()
    assert [line.splitlines()[0] for line in shown(effects)] == [
        "🧪 Обзор: сообщение без кнопки",
        "🧪 Обзор: сообщение с кнопкой",
    ]
    formatted = sends(student.press("Дальше"))[0]
    assert formatted.parse_mode == "HTML" and "<tg-spoiler>" in formatted.text
    media = sends(student.press("Вперёд"))[0]
    assert isinstance(media, SendMedia) and media.buttons[0].text == "Дальше"
    effects = student.press("Дальше")
    kinds = [type(e).__name__ for e in sends(effects)]
    assert kinds == [
        "SendText",  # link_preview: no -> the text is a separate message without preview
        "SendAudio",
        "SendAudio",
        "SendAudio",
        "SendText",
    ]
    assert sends(effects)[0].link_preview is False
    audio = [e for e in effects if isinstance(e, SendAudio)]
    assert audio[0].caption is None
    assert audio[1].caption.startswith("🎧 Обзор: аудио с подписью")
    assert audio[2].caption is None and audio[2].urls == (
        "https://example.com/coursebot/audio/bell.ogg",
    )
    assert shown(student.type("ПРОВЕРКА"))[0] == "✅ Верно, регистр не важен."
    effects = student.type("хочу говорить свободно")
    assert shown(effects)[0] == "Спасибо, записал!" and scores(effects) == {}
    effects = student.type("1,2,3")
    assert scores(effects) == {"Digits": (1.0, 1.0)}
    assert shown(student.choose("5"))[0] == "❌ Нет, попробуй ещё."
    effects = student.choose("Да")
    assert shown(effects)[0] == "✅ Верно!" and polls(effects)[0].kind == "regular"
    student.choose("Так себе")
    effects = student.choose("2", "3")
    assert shown(effects)[0] == "✅ 2 чётное.\n\n❌ 3 нечётное.\n\n⚠️ Частично верно."
    assert scores(effects) == {"Several": (0.5, 1.0)}
    app = sends(student.last)[-1]
    assert [b.text for b in app.buttons] == ["Открыть", "Продолжить"]
    assert app.buttons[0].web_app_url == "https://example.com/coursebot/miniapp?question=App"
    effects = student.webapp('{"answer": "Меркурий"}')
    assert shown(effects) == ["📊 Балл 1: выбери «Верно»"]
    answer_polls(student, "pts_", lambda eid: eid != "pts_2")
    verdict = shown(student.last)[-1]
    assert "Набрано 2 из 3." in verdict
    assert verdict.endswith("⚠️ Есть ошибки, стоит повторить.")  # 33.3 % > 33 -> 66
    assert shown(student.press("Дальше")) == ["🔁 Обзор: повторение ошибок"]
    replay = student.press("Повторить")
    assert [p.question for p in polls(replay)] == [
        "📊 Балл 2: выбери «Неверно», чтобы было что повторить"
    ]
    effects = student.choose_wrong()
    assert shown(effects)[-1] == "🔀 Обзор: развилка"
    return student


def test_every_element_wait_delay_dialogs_and_end():
    student = play_every_element_until_crossroads()
    effects = student.press("Через минуту")
    assert shown(effects) == ["Хорошо, напишу через минуту!"]
    (wait,) = [e for e in effects if isinstance(e, Schedule)]
    assert wait.due_at == T0 + timedelta(minutes=1) and wait.goto == "Pause"
    effects = student.wait_for_timer()
    assert shown(effects) == ["⏰ Обзор: пауза на 30 секунд"]
    (delay,) = [e for e in effects if isinstance(e, Schedule)]
    assert delay.due_at == student.now + timedelta(seconds=30) and delay.goto == "After_Pause"
    assert shown(student.wait_for_timer()) == ["⏰ Пауза закончилась."]
    assert shown(student.press("Дальше"))[0].startswith("💬 Обзор: диалог")
    student.type("Привет")
    ask = student.last_ask()
    assert ask.temperature == 0.7 and ask.model == "gpt-4"
    # {{Exact}}: the whole exchange; {{1]Free}}: its first message; {{Digits[1}}: its last
    assert ask.messages[0] == {
        "role": "system",
        "content": "Ты — вежливый помощник курса. Отвечай коротко, по-русски.\n"
        "Ответ студента на проверочный вопрос: assistant: ✏️ Обзор: ответ с проверкой\n"
        'Напиши слово "проверка" (регистр не важен).\n\nuser: ПРОВЕРКА\n'
        "Первое сообщение о целях студента: assistant: ✏️ Обзор: свободный ответ\n"
        "Расскажи в двух словах, зачем тебе этот курс.\n"
        "Последний ответ с цифрами: user: 1,2,3\n"
        "Когда студент попросит закончить, допиши в конце ответа {STOP} или #конецдиалога.\n",
    }
    assert shown(student.llm("Привет! Чем помочь?")) == ["Привет! Чем помочь?"]
    student.type("конец")
    effects = student.llm("До встречи! #конецдиалога")
    assert shown(effects)[0] == "До встречи!"
    assert shown(effects)[1].startswith("💬 Обзор: голосовой диалог")
    assert isinstance(effects[-1], AskLLM)  # auto_start
    assert (
        "Продолжи разговор, начатый здесь: user: конец\n\nassistant: До встречи!"
        in (effects[-1].messages[0]["content"])
    )
    student.llm("Здравствуй! Как дела?")
    student.speak("конец")
    effects = student.llm("Пока! {STOP}")
    assert shown(effects)[0] == "Пока!"
    assert shown(effects)[1] == "🎉 Обзор окончен: ты увидел все виды шагов."
    assert effects[-1] == Finish("completed")


def test_every_element_jump_straight_to_the_end():
    student = play_every_element_until_crossroads()
    assert shown(student.press("Закончить")) == ["🎉 Обзор окончен: ты увидел все виды шагов."]
    assert student.finished


# --- editor_quirks.yaml -----------------------------------------------------------------------


def test_editor_quirks_full_path():
    student = Student(load("editor_quirks.yaml"))
    effects = student.start()
    # the note defined twice: its second definition (no media), at the first position
    assert isinstance(sends(effects)[0], SendText)
    greeting = sends(effects)[1]
    # sections skipped; "http"/"asd" media dropped, so the options stay on a text message
    assert isinstance(greeting, SendText) and greeting.text.startswith("Привет! Это курс")
    assert [b.text for b in greeting.buttons] == ["С вопросов", "Сразу к финалу"]
    effects = student.press("С вопросов")
    assert polls(effects)[0].kind == "quiz" and polls(effects)[0].correct_option_ids == (1,)
    effects = student.choose("message")
    assert scores(effects) == {"Check_1": (0.0, 1.0)}
    assert shown(student.choose("Иногда."))[0] == "Тогда вот напоминание о главном."
    effects = student.choose("input", "end")
    assert shown(effects)[0] == "⚠️ Почти: одна неточность.\n\nПосмотри на варианты ещё раз."
    assert isinstance(sends(effects)[1], SendAudio) and shown(effects)[-1].startswith(
        "Напиши по-русски"
    )
    effects = student.type("Редактор")
    assert shown(effects)[0] == 'Верно, "editor" — это редактор.'
    student.type("стоп")
    effects = student.llm("Хорошо, заканчиваем. {STOP}")
    assert shown(effects) == ["Хорошо, заканчиваем.", "Повторим вопросы с ошибками:"]
    effects = student.press("Повторить")
    assert [p.question for p in polls(effects)] == [
        "Какой элемент задаёт вопрос с одним верным ответом?"
    ]
    effects = student.choose("quiz")
    assert shown(effects) == ["Продолжим?"]
    effects = student.press("Напомни завтра")
    assert shown(effects) == ["Договорились, до завтра!"]
    effects = student.wait_for_timer()
    assert shown(effects) == ["*Итог: 1 из 1.*\n\nОтлично!"]
    assert shown(student.press("OK")) == ["🎉 Курс из редактора пройден!"]
    effects = student.press("Завершить")
    assert shown(effects) == ["Спасибо!    Курс завершён."]
    assert effects[-1] == Finish("completed")


def test_editor_quirks_option_with_goto_skips_to_the_outro():
    student = Student(load("editor_quirks.yaml"))
    student.start()
    assert shown(student.press("Сразу к финалу")) == ["🎉 Курс из редактора пройден!"]


# --- chat_basics.yaml -------------------------------------------------------------------------


def play_chat_basics_until_choice() -> Student:
    student = Student(load("chat_basics.yaml"))
    assert len(shown(student.start())) == 2
    photo = sends(student.press("Поехали"))[0]
    assert isinstance(photo, SendMedia) and len(photo.urls) == 1
    album = sends(student.press("Дальше"))[0]
    assert isinstance(album, SendMedia) and len(album.urls) == 2
    html = sends(student.press("Продолжить"))[0]
    assert html.parse_mode == "HTML" and "<tg-spoiler>" in html.text
    link = sends(student.press("Ясно"))[0]
    assert isinstance(link, SendText) and link.link_preview is False
    options = sends(student.press("Спасибо"))[0]
    assert [b.text for b in options.buttons] == ["Да, к заданиям", "На сегодня всё", "Давай завтра"]
    return student


def test_chat_basics_full_path():
    student = play_chat_basics_until_choice()
    assert shown(student.press("Да, к заданиям")) == ["Cat (1/5)"]
    answer_polls(student, "quiz_", lambda eid: eid != "quiz_3")
    assert isinstance(sends(student.last)[-2], SendAudio)
    assert shown(student.type("cat"))[0].startswith("✅ Верно!")
    assert shown(student.type("DOG"))[0].startswith("✅ Правильно, регистр не важен.")
    effects = student.type("4-2-5-1-3")
    assert scores(effects) == {"type_3": (1.0, 1.0)}
    effects = student.type("good evening")
    assert scores(effects) == {"type_4": (0.0, 1.0)}
    effects = student.type("3 2 1 4")
    assert shown(effects)[0].startswith("❌ Неправильный порядок.")
    for answer in ("Да", "Тексты", "10-20", "Грамматика", "Высокий"):
        student.choose(answer)
    assert shown(student.choose("Table", "Chair"))[0] == (
        "Нет, table — это стол.\n\nНет, chair — это стул.\n\n"
        "❌ Итог: неверно.\n\nПовтори слова про животных."
    )
    student.choose("Good", "Nice", "Fine")
    student.choose("Повторять их")
    student.choose("Red", "Blue")
    effects = student.choose("One", "Two", "Three")
    assert shown(effects)[0] == "✅ Верно, это все числа."
    assert shown(effects)[1].startswith("Готово!")
    assert scores(student.log) == {
        "quiz_1": (1.0, 1.0),
        "quiz_2": (1.0, 1.0),
        "quiz_3": (0.0, 1.0),
        "quiz_4": (1.0, 1.0),
        "quiz_5": (1.0, 1.0),
        "type_1": (1.0, 1.0),
        "type_2": (1.0, 1.0),
        "type_3": (1.0, 1.0),
        "type_4": (0.0, 1.0),
        "type_5": (0.0, 1.0),
        "multi_1": (0.0, 1.0),
        "multi_2": (1.0, 1.0),
        "multi_3": (1.0, 1.0),
        "multi_4": (0.5, 1.0),
        "multi_5": (1.0, 1.0),
    }
    assert student.press("Завершить")[-1] == Finish("completed")


def test_chat_basics_options_skip_and_tomorrow():
    skip = play_chat_basics_until_choice()
    assert shown(skip.press("На сегодня всё"))[0].startswith("Готово!")
    later = play_chat_basics_until_choice()
    effects = later.press("Давай завтра")
    assert shown(effects) == []  # no wait_text in this course
    assert shown(later.wait_for_timer()) == ["Cat (1/5)"]


# --- scored_exam.yaml -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("right", "multi", "score", "verdict", "replayed"),
    [
        (
            {"exam_1", "exam_2", "exam_3", "exam_5"},
            ("Марс", "Венера"),
            "5 из 5",
            "🏆 Ни одной ошибки!",
            [],
        ),
        (
            {"exam_1", "exam_3"},
            ("Марс", "Венера"),
            "3 из 5",
            "🙂 Неплохо, но кое-что стоит повторить.",
            ["🌙 Вопрос 2/5", "🔴 Вопрос 5/5"],
        ),
        (
            {"exam_1", "exam_2", "exam_5"},
            ("Марс", "Уран"),
            "3.5 из 5",
            "🙂 Неплохо, но кое-что стоит повторить.",
            ["☀️ Вопрос 3/5"],
        ),
        (
            set(),
            ("Сатурн",),
            "0 из 5",
            "🔁 Начни тему сначала.",
            ["🪐 Вопрос 1/5", "🌙 Вопрос 2/5", "☀️ Вопрос 3/5", "🌍 Вопрос 4/5", "🔴 Вопрос 5/5"],
        ),
    ],
    ids=["all-right", "three-right", "half-a-multi-choice", "all-wrong"],
)
def test_scored_exam_scenarios(right, multi, score, verdict, replayed):
    student = Student(load("scored_exam.yaml"))
    assert shown(student.start())[0].startswith("🔭 Небольшой экзамен по астрономии")
    student.press("Начать экзамен")
    answer_polls(student, "exam_", lambda eid: eid in right)
    student.type("солнце" if "exam_3" in right else "Луна")
    student.choose(*multi)
    answer_polls(student, "exam_", lambda eid: eid in right)
    result = shown(student.last)[-1]
    assert f"Итог экзамена: {score}." in result
    assert f"баллы {score.split()[0]}, максимум 5" in result
    assert result.endswith(verdict)
    student.press("Дальше")
    effects = student.press("Ясно")
    if not replayed:
        assert shown(effects)[0] == "🌟 Ошибок нет, повторять нечего!"
        assert shown(effects)[1] == "🎓 Экзамен окончен. Спасибо!"
        assert student.finished
        return
    assert shown(effects)[0].startswith("🔁 Работа над ошибками")
    seen = []
    effects = student.press("Повторить")
    while not student.finished:
        seen.append(shown(effects)[-1].splitlines()[0])
        if student.state.awaiting == "text":
            effects = student.type("Солнце")
        elif student.last_poll().multiple:
            effects = student.choose("Марс", "Венера")
        else:
            effects = student.choose_correct()
    assert seen == replayed
    assert shown(effects)[-1] == "🎓 Экзамен окончен. Спасибо!"
    # every replayed element now has its new, right answer; partial answers were not replayed
    assert {eid for eid, a in student.state.answers.items() if a.score == 0} == set()
