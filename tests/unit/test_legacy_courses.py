"""ProfoChatBot compatibility suite: every legacy course, loaded by the real loader and played
from start to finish through `step()` with scripted right and wrong answers: sent texts, poll
kinds, scores, test verdicts and revision contents are what a student of the legacy bot would
see. The courses are not in this repository (see `tests/course_files.py`); without them the
module is skipped, saying why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.effects import AskLLM, Finish, Schedule, SendAudio, SendMedia, SendText
from engine.model import Course
from tests.course_files import legacy_dir_or_skip_module
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

LEGACY = legacy_dir_or_skip_module()
SCRIPTED = {
    "rev.yaml",
    "test.yml",
    "test_all_elements.yml",
    "test_course_editor.yml",
    "test_messages.yml",
    "test_test_element.yml",
}


def load(name: str) -> Course:
    return load_file(LEGACY / name)


def test_every_legacy_course_has_a_script_here():
    assert {p.name for p in LEGACY.glob("*.y*ml")} == SCRIPTED


# --- rev.yaml ---------------------------------------------------------------------------


def start_rev() -> Student:
    student = Student(load("rev.yaml"))
    effects = student.start()
    # the duplicate GraphicMsg1_1: the second definition (no media) at the first position
    assert isinstance(effects[0], SendText)
    assert shown(effects) == [
        "Посмотри на график и подумай, какое предложение подходит",
        "Выберите правильный ответ, который описывает график (7/8)",
    ]
    assert [p.kind for p in polls(effects)] == ["quiz"]
    effects = student.choose("The prices rocketed in 2009.")
    assert scores(effects) == {"GraphicQuiz1_2": (1.0, 1.0)}
    assert isinstance(sends(effects)[1], SendMedia) and sends(effects)[1].caption is None
    effects = student.choose("The figures soared to 89% in the final year.")
    assert scores(effects) == {"GraphicQuiz_1": (0.0, 1.0)}
    assert shown(effects) == [
        "I see where you’re coming from, but that's not quite it.",
        "Привет! Рад тебя видеть! Я — 🤖 IELTS Bot! Этот курс поможет тебе подготовиться к"
        " IELTS и успешно его сдать.",
        "Давай проверим IELTS Vocabulary words, которые ты должен знать, если хочешь успешно"
        " сдать экзамен!",
    ]
    assert shown(student.press("Давай")) == ["Important (1/50)"]
    return student


def test_rev_mixed_answers_short_path_revision_and_graphs():
    student = start_rev()
    assert shown(student.choose("Essential")) == ["Awesome job!", "Expand (2/50)"]
    assert shown(student.choose("Construct")) == [
        "Not quite, but you’re on the right track.",
        "I think (3/50)",
    ]
    assert shown(student.choose("I reckon"))[-1] == (
        "У вас 2 правильных ответов из 3!\n\n"
        "Очень хороший результат! В следующий раз будет еще лучше!"  # 33 % errors -> 40
    )
    assert shown(student.press("ок!")) == ["Отлично! Хотите еще 10 слов?"]
    assert shown(student.press("Хочу еще!")) == ["People (11/50)"]
    answer_polls(student, "Vocab_", lambda _: True)
    assert shown(student.last)[-1] == (
        "У вас пока 12 правильных ответов из 13!\n\nТы молодец! Почти все запомнил. Так держать!"
    )
    student.press("Супер")
    effects = student.press("Достаточно")
    assert shown(effects) == ["Добрались!", "Давай проделаем работу над ошибками!"]
    # revision replays exactly the one mistake, then continues after the revision
    assert shown(student.press("Ok!")) == ["Expand (2/50)"]
    effects = student.choose("Enlarge")
    assert shown(effects)[0] == "Fantastic work!"
    assert (
        isinstance(sends(effects)[-1], SendMedia) and sends(effects)[-1].buttons[0].text == "Давай"
    )
    graphs = student.press("Давай")
    assert shown(graphs) == [
        "Посмотри на график и подумай, какое предложение подходит.",
        "Выберите правильный ответ, который описывает график (1/9)",
    ]
    asked = answer_polls(student, "GraphQuiz_", lambda eid: eid != "GraphQuiz_5")
    # each GraphMsg (photo, no button) flows straight into its GraphQuiz
    assert [q[-5:] for q in asked] == [f"({n}/9)" for n in range(1, 10)]
    # 8/9 = 11 % errors; thresholds 0/4/8/9 (written as scores) match nothing -> text only
    assert shown(student.last)[-1] == "У вас 8 правильных ответов из 9!"
    student.press("ок!")
    while not student.finished:
        answer_polls(student, "GraphQuiz2_", lambda _: True)
    assert student.finish_status() == "completed"
    assert student.state.answers["Vocab_2"].score == 1.0


def test_rev_all_wrong_long_path_replays_every_vocab_mistake_in_order():
    student = start_rev()
    answer_polls(student, "Vocab_", lambda _: False)
    assert shown(student.last)[-1] == "У вас 0 правильных ответов из 3!\n\nЧто-то пошло не так!"
    for button, more in (
        ("ок!", "Хочу еще!"),
        ("Супер", "Да!"),
        ("Супер", "Можно еще"),
        ("Супер", "Готов взять еще!"),
    ):
        student.press(button)
        student.press(more)
        answer_polls(student, "Vocab_", lambda _: False)
    assert shown(student.last)[-1] == "В итоге у тебя 0 правильных ответов из 50!"
    effects = student.press("ок!")
    assert shown(effects) == ["Добрались!", "Давай проделаем работу над ошибками!"]
    effects = student.press("Ok!")
    replayed = [*shown(effects), *answer_polls(student, "Vocab_", lambda _: True)[1:]]
    expected = [f"({n}/50)" for n in [1, 2, 3, *range(11, 51)]]
    assert [q.rsplit(" ", 1)[-1] for q in replayed] == expected
    assert shown(student.last)[-1].startswith("В IELTS надо уметь описывать графики")
    assert all(student.state.answers[f"Vocab_{n}"].score == 1.0 for n in range(41, 51))


def test_rev_all_right_has_no_mistakes_and_the_quirky_zero_threshold():
    student = start_rev()
    answer_polls(student, "Vocab_", lambda _: True)
    for button, more in (
        ("ок!", "Хочу еще!"),
        ("Супер", "Да!"),
        ("Супер", "Можно еще"),
        ("Супер", "Готов взять еще!"),
    ):
        student.press(button)
        student.press(more)
        answer_polls(student, "Vocab_", lambda _: True)
    # 0 % errors -> threshold 0, whose text the author meant for a score of 0
    assert shown(student.last)[-1] == (
        "В итоге у тебя 43 правильных ответов из 50!\n\n"
        "Давай все повторим и еще раз попробуем в следующий раз."
    )
    effects = student.press("ок!")
    assert shown(effects)[:2] == ["Добрались!", "Ошибок нет, молодец!"]


# --- test.yml ---------------------------------------------------------------------------


def play_test_yml_until_jumper() -> Student:
    student = Student(load("test.yml"))
    effects = student.start()
    assert [p.question for p in polls(effects)] == [
        "The sales figures for Microsoft  ________ in 2019, while those for Tesla ________"
        " during the same period."
    ]
    student.choose("fell/increased")
    effects = student.choose("to stay the same")
    assert shown(effects)[0] == "Oops! That's not correct. Take another look at the graph."
    html = sends(effects)[-1]
    assert isinstance(html, SendText) and html.parse_mode == "HTML"
    assert html.text.startswith("💡 <b>Increase</b>") and html.buttons[0].text == "Поехали!"
    effects = student.press("Поехали!")
    assert isinstance(sends(effects)[0], SendMedia) and polls(effects)[0].options == (
        "FALSE",
        "TRUE",
    )
    student.choose("FALSE")
    student.press("Вперед!")
    student.choose("TRUE")
    effects = student.choose("The prices rocketed in 2009.")
    # legacy delay: text now, ask to continue after one day
    assert (
        shown(effects)[-1] == "Ты закончил модуль 1! Завтра в это же время прилетит новое задание!"
    )
    (pause,) = [e for e in effects if isinstance(e, Schedule)]
    assert pause.due_at == T0 + timedelta(days=1)
    ask = student.wait_for_timer()
    assert shown(ask) == ["Ты закончил модуль 1! Хочешь приступить к модулю 2?"]
    assert [b.text for b in sends(ask)[0].buttons] == ["Да", "Нет"]
    assert any(isinstance(e, Schedule) for e in student.press("Нет"))
    assert shown(student.wait_for_timer()) == [
        "Ты закончил модуль 1! Хочешь приступить к модулю 2?"
    ]
    assert shown(student.press("Да")) == ["Important (1/3)"]
    answer_polls(student, "Vocab_", lambda eid: eid == "Vocab_2")
    assert shown(student.last)[-1] == "У вас 1 правильных ответов из 3!\n\nНовичок"  # 67 %
    assert shown(student.press("Ок!")) == ["Давай проделаем работу над ошибками!"]
    assert shown(student.press("Ok!")) == ["Important (1/3)"]
    student.choose("Essential")
    effects = student.choose("I reckon")
    assert shown(effects)[-1] == "Ты прям красавчек! Что делаем дальше?"
    return student


def test_test_yml_full_path_through_every_element():
    student = play_test_yml_until_jumper()
    assert shown(student.press("Вали еще!")) == ["Кто президент США?"]
    effects = student.type("  biden ")
    assert scores(effects) == {"Test1_02": (1.0, 1.0)}
    assert shown(effects) == [
        "Правильно",
        "Это тестовое сообщение без кнопки",
        "Это тестовое сообщение с кнопкой",
    ]
    album = sends(student.press("Отлично!"))[0]
    assert isinstance(album, SendMedia) and len(album.urls) == 4
    assert album.buttons[0].text == "Есть"
    effects = student.press("Есть")
    assert [p.kind for p in polls(effects)] == ["regular"]
    assert shown(student.choose("5 Супер!")) == [
        "Спасибо, старались!",
        "Это Input. Напиши что нибудь для логов",
    ]
    effects = student.type("лог")
    assert scores(effects) == {} and polls(effects)[0].multiple
    effects = student.choose("Один", "Три")
    assert shown(effects)[0] == (
        "Да, число 1 - одно из них\n\nДа, число 3 - одно из них\n\nВсе верно, ты молодец!"
    )
    assert scores(effects) == {"Test_05": (1.0, 1.0)}
    effects = student.choose("Бэклог ужасный!")
    assert shown(effects)[0] == "Все верно, этот бэклог действительно плохой!"
    assert shown(effects)[1].startswith("Это диалог.")
    student.type("Знаю немного, 2 из 5")
    ask = student.last_ask()
    assert ask.model is None and ask.messages[0]["content"].startswith("# Persona")
    assert shown(student.llm("Спасибо! Есть вопросы?")) == ["Спасибо! Есть вопросы?"]
    student.type("Нет")
    effects = student.llm("Было приятно пообщаться!\n{STOP}")
    assert shown(effects) == ["Было приятно пообщаться!", "Конец теста."]
    assert student.press("Ок")[-1] == Finish("completed")


def test_test_yml_short_path_jumps_to_the_end():
    student = play_test_yml_until_jumper()
    assert shown(student.press("Пощады!")) == ["Конец теста."]
    student.press("Ок")
    assert student.finish_status() == "completed"


# --- test_all_elements.yml --------------------------------------------------------------


def play_all_elements_until_jump() -> Student:
    student = Student(load("test_all_elements.yml"))
    effects = student.start()
    assert [line.splitlines()[0] for line in shown(effects)] == [
        "📝 ТЕСТ: Message без кнопки",
        "📝 ТЕСТ: Message с кнопкой",
    ]
    assert shown(student.press("Продолжить"))[0].startswith("📝 ТЕСТ: Message с HTML")
    media = sends(student.press("Далее"))[0]
    assert isinstance(media, SendMedia) and media.buttons[0].text == "Продолжить"
    effects = student.press("Продолжить")
    kinds = [(type(e).__name__, getattr(e, "caption", None)) for e in effects]
    assert [k for k, _ in kinds if k in ("SendText", "SendAudio")] == [
        "SendText",  # link_preview: no -> the text is a separate message without preview
        "SendAudio",
        "SendAudio",
        "SendText",
    ]
    assert sends(effects)[0].link_preview is False
    audio = [e for e in effects if isinstance(e, SendAudio)]
    assert audio[0].caption is None and audio[1].caption.startswith("🎧 ТЕСТ: Audio без текста")
    assert shown(student.type("ТЕСТ"))[0] == "✅ Правильно! Регистронезависимое сравнение работает."
    effects = student.type("что угодно")
    assert shown(effects)[0] == "Спасибо за ответ!" and scores(effects) == {}
    effects = student.type("1,2,3")
    assert scores(effects) == {"Test_Input_03": (1.0, 1.0)}
    assert shown(student.choose("Неправильный ответ"))[0] == "❌ Неправильно. Попробуй еще раз."
    effects = student.choose("TRUE")
    assert shown(effects)[0] == "✅ Правильно!" and polls(effects)[0].kind == "regular"
    student.choose("Нормально")
    effects = student.choose("Вариант 1", "Вариант 2")
    assert shown(effects)[0] == (
        "✅ Правильно! Вариант 1 - один из правильных ответов.\n\n"
        "❌ Неправильно. Вариант 2 не является правильным.\n\n"
        "⚠️ Частично правильно. Попробуй выбрать все правильные варианты."
    )
    assert scores(effects) == {"Test_MultiChoice_01": (0.5, 1.0)}
    answer_polls(student, "Test_Score_", lambda eid: eid != "Test_Score_02")
    verdict = shown(student.last)[-1]
    assert "Твой результат: 2 из 3 баллов." in verdict
    assert verdict.endswith("⚠️ Есть ошибки, стоит повторить.")  # 33.3 % > 33 -> 66
    assert shown(student.press("Продолжить"))[0].startswith("🔄 ТЕСТ: Revision")
    replay = student.press("Начать повторение")
    assert [p.question.splitlines()[0] for p in polls(replay)] == [
        "📊 ТЕСТ: Quiz для подсчета баллов (неправильный ответ)"
    ]
    effects = student.choose_wrong()
    assert shown(effects)[-1].startswith("🔀 ТЕСТ: Jump")
    return student


def test_all_elements_wait_delay_dialogs_and_end():
    student = play_all_elements_until_jump()
    effects = student.press("Отложить на 1 минуту (для теста Delay)")
    assert shown(effects) == ["Хорошо, вернемся к этому через 1 минуту!"]
    (wait,) = [e for e in effects if isinstance(e, Schedule)]
    assert wait.due_at == T0 + timedelta(minutes=1) and wait.goto == "Test_Delay_01"
    effects = student.wait_for_timer()
    assert shown(effects)[0].startswith("⏰ ТЕСТ: Delay")
    (delay,) = [e for e in effects if isinstance(e, Schedule)]
    assert delay.due_at == student.now + timedelta(seconds=30)
    assert shown(student.wait_for_timer())[0].startswith("✅ Проверка Delay завершена!")
    assert shown(student.press("Продолжить"))[0].startswith("💬 ТЕСТ: Dialog (диалог с ИИ)")
    student.type("Привет")
    assert student.last_ask().temperature == 0.7 and student.last_ask().model == "gpt-4"
    effects = student.llm("{STOP}")
    assert shown(effects)[0].startswith("💬 ТЕСТ: Dialog с голосовыми")
    assert isinstance(effects[-1], AskLLM)  # auto_start
    student.llm("Привет! Как дела?")
    student.speak("конец")
    effects = student.llm("Пока! {STOP}")
    assert shown(effects)[0] == "Пока!"
    assert shown(effects)[1].startswith("🎉 ТЕСТ: End")
    assert effects[-1] == Finish("completed")


def test_all_elements_jump_straight_to_the_end():
    student = play_all_elements_until_jump()
    assert shown(student.press("Завершить сейчас"))[0].startswith("🎉 ТЕСТ: End")
    assert student.finished


# --- test_course_editor.yml -------------------------------------------------------------


def test_course_editor_full_path():
    student = Student(load("test_course_editor.yml"))
    effects = student.start()
    welcome = sends(effects)[0]
    # sections skipped; "http"/"asd" media dropped, so the options stay on a text message
    assert isinstance(welcome, SendText) and welcome.text.startswith("Привет! Добро пожаловать")
    assert [b.text for b in welcome.buttons] == ["Начать курс", "Посмотреть примеры"]
    effects = student.press("Начать курс")
    assert polls(effects)[0].kind == "quiz" and polls(effects)[0].correct_option_ids == (1,)
    effects = student.choose("Message")
    assert scores(effects) == {"Quiz_Test_01": (0.0, 1.0)}
    assert shown(student.choose("Иногда."))[0] == "Хорошо, что ты об этом задумываешься!"
    effects = student.choose("Обсуждаемая (Negotiable)", "Оцениваемая (Estimable)")
    assert shown(effects)[0] == (
        "⚠️ Итог: почти верно, но есть одна неточность.\n\nПроверь свой выбор еще раз."
    )
    assert isinstance(sends(effects)[1], SendAudio) and shown(effects)[-1].startswith(
        "Напиши перевод"
    )
    effects = student.type("Привет")
    assert shown(effects)[0] == 'Правильно! "Hello" переводится как "привет".'
    student.type("стоп")
    effects = student.llm("Хорошо, заканчиваем. {STOP}")
    assert shown(effects) == [
        "Хорошо, заканчиваем.",
        "Давай повторим вопросы, в которых ты ошибся:",
    ]
    effects = student.press("Начать повторение")
    assert [p.question for p in polls(effects)] == ["Какой тип элемента используется для викторин?"]
    effects = student.choose("Quiz")
    assert shown(effects) == ["Ну что, продолжим дальше?"]
    effects = student.press("Давай завтра")
    assert shown(effects) == ["Хорошо, вернемся к этому завтра!"]
    effects = student.wait_for_timer()
    assert shown(effects) == ["*Ваша готовность: 1 из 1.*\n\nВы готовы запускать!"]
    assert shown(student.press("OK"))[0].startswith("🎉 Отлично! Ты прошел тестовый курс!")
    effects = student.press("Завершить")
    assert shown(effects) == [
        "Спасибо за прохождение курса!    Курс завершен. Дальнейшие элементы не будут отправлены."
    ]
    assert effects[-1] == Finish("completed")


def test_course_editor_examples_option_skips_to_the_final_message():
    student = Student(load("test_course_editor.yml"))
    student.start()
    assert shown(student.press("Посмотреть примеры"))[0].startswith("🎉 Отлично!")


# --- test_messages.yml ------------------------------------------------------------------


def play_messages_until_options() -> Student:
    student = Student(load("test_messages.yml"))
    assert len(shown(student.start())) == 2
    photo = sends(student.press("Давай"))[0]
    assert isinstance(photo, SendMedia) and len(photo.urls) == 1
    album = sends(student.press("Давай"))[0]
    assert isinstance(album, SendMedia) and len(album.urls) == 2
    html = sends(student.press("Продолжить"))[0]
    assert html.parse_mode == "HTML" and "<tg-spoiler>" in html.text
    link = sends(student.press("Понятно!"))[0]
    assert isinstance(link, SendText) and link.link_preview is False
    options = sends(student.press("Спасибо"))[0]
    assert [b.text for b in options.buttons] == [
        "Да, продолжаем!",
        "Мне пока хватит",
        "Давай завтра",
    ]
    return student


def test_messages_full_path():
    student = play_messages_until_options()
    assert shown(student.press("Да, продолжаем!")) == ["Important (1/5)"]
    answer_polls(student, "Test_Quiz_", lambda eid: eid != "Test_Quiz_03")
    assert isinstance(sends(student.last)[-2], SendAudio)
    assert shown(student.type("essential"))[0].startswith("✅ Правильно!")
    assert shown(student.type("Expand"))[0].startswith("✅ Верно!")
    effects = student.type("3-1-6-2-4-5")
    assert scores(effects) == {"Test_Input_03": (1.0, 1.0)}
    effects = student.type("I think")
    assert scores(effects) == {"Test_Input_04": (0.0, 1.0)}
    effects = student.type("2 4 3 1")
    assert shown(effects)[0].startswith("❌ Неправильный порядок.")
    for answer in (
        "Да",
        "Текстовые материалы",
        "15-30 минут",
        "Грамматика",
        "Продвинутый (Advanced)",
    ):
        student.choose(answer)
    assert shown(student.choose("Независимая (Independent)", "Оцениваемая (Estimable)"))[0] == (
        "Нет, эта история не является независимой.\n\nНет, история не оцениваемая.\n\n"
        "❌ Итог: неправильно.\n\nЭту тему нужно изучить подробнее."
    )
    student.choose("Essential", "Significant", "Crucial")
    student.choose("Регулярная практика")
    student.choose("Чтение", "Письмо")
    effects = student.choose("MP3", "WAV", "OGG")
    assert shown(effects)[0] == "✅ Правильно! Все выбранные форматы поддерживаются."
    assert shown(effects)[1].startswith("Поздравляем!")
    assert scores(student.log) == {
        "Test_Quiz_01": (1.0, 1.0),
        "Test_Quiz_02": (1.0, 1.0),
        "Test_Quiz_03": (0.0, 1.0),
        "Test_Quiz_04": (1.0, 1.0),
        "Test_Quiz_05": (1.0, 1.0),
        "Test_Input_01": (1.0, 1.0),
        "Test_Input_02": (1.0, 1.0),
        "Test_Input_03": (1.0, 1.0),
        "Test_Input_04": (0.0, 1.0),
        "Test_Input_05": (0.0, 1.0),
        "Test_MultiChoice_01": (0.0, 1.0),
        "Test_MultiChoice_02": (1.0, 1.0),
        "Test_MultiChoice_03": (1.0, 1.0),
        "Test_MultiChoice_04": (0.5, 1.0),
        "Test_MultiChoice_05": (1.0, 1.0),
    }
    assert student.press("Завершить")[-1] == Finish("completed")


def test_messages_options_skip_and_tomorrow():
    skip = play_messages_until_options()
    assert shown(skip.press("Мне пока хватит"))[0].startswith("Поздравляем!")
    later = play_messages_until_options()
    effects = later.press("Давай завтра")
    assert shown(effects) == []  # no wait_text in this course
    assert shown(later.wait_for_timer()) == ["Important (1/5)"]


# --- test_test_element.yml --------------------------------------------------------------


@pytest.mark.parametrize(
    ("right", "multi", "score", "verdict", "replayed"),
    [
        (
            {"Test_Quiz_01", "Test_Quiz_02", "Test_Quiz_03", "Test_Quiz_05"},
            ("Python - интерпретируемый язык", "Python поддерживает ООП"),
            "5 из 5",
            "✅ Отлично! Ты набрал все баллы! (0% ошибок)",
            [],
        ),
        (
            {"Test_Quiz_01", "Test_Quiz_03"},
            ("Python - интерпретируемый язык", "Python поддерживает ООП"),
            "3 из 5",
            "⚠️ Хорошо, но есть ошибки. Стоит повторить материал. (до 40% ошибок)",
            ["❓ Вопрос 2 из 5", "❓ Вопрос 5 из 5"],
        ),
        (
            {"Test_Quiz_01", "Test_Quiz_02", "Test_Quiz_05"},
            ("Python - интерпретируемый язык", "Python - компилируемый язык"),
            "3.5 из 5",
            "⚠️ Хорошо, но есть ошибки. Стоит повторить материал. (до 40% ошибок)",
            ["✏️ Вопрос 3 из 5"],
        ),
        (
            set(),
            ("Python не поддерживает функции",),
            "0 из 5",
            "❌ Очень много ошибок. Необходимо изучить материал заново. (до 100% ошибок)",
            [
                "❓ Вопрос 1 из 5",
                "❓ Вопрос 2 из 5",
                "✏️ Вопрос 3 из 5",
                "☑️ Вопрос 4 из 5",
                "❓ Вопрос 5 из 5",
            ],
        ),
    ],
)
def test_test_element_scenarios(right, multi, score, verdict, replayed):
    student = Student(load("test_test_element.yml"))
    assert shown(student.start())[0].startswith("📊 ТЕСТ: Проверка элементов Test и Revision")
    student.press("Начать тест")
    answer_polls(student, "Test_Quiz_", lambda eid: eid in right)
    student.type("москва" if "Test_Quiz_03" in right else "Питер")
    student.choose(*multi)
    answer_polls(student, "Test_Quiz_", lambda eid: eid in right)
    result = shown(student.last)[-1]
    assert f"Твой результат: {score} баллов." in result
    assert f"Переменные {score.split()[0]} и 5 подставлены" in result
    assert result.endswith(verdict)
    student.press("Продолжить")
    effects = student.press("Понятно")
    if not replayed:
        assert shown(effects)[0].startswith("✅ Отлично! Ты не допустил ошибок.")
        assert shown(effects)[1].startswith("🎉 Тест завершен!")
        assert student.finished
        return
    assert shown(effects)[0].startswith("🔄 ПОВТОРЕНИЕ ОШИБОК")
    seen = []
    effects = student.press("Начать повторение")
    while not student.finished:
        seen.append(shown(effects)[-1].splitlines()[0])
        if student.state.awaiting == "text":
            effects = student.type("Москва")
        elif student.last_poll().multiple:
            effects = student.choose("Python - интерпретируемый язык", "Python поддерживает ООП")
        else:
            effects = student.choose_correct()
    assert seen == replayed
    assert shown(effects)[-1].startswith("🎉 Тест завершен!")
    # every replayed element now has its new, right answer; partial answers were not replayed
    assert {eid for eid, a in student.state.answers.items() if a.score == 0} == set()
