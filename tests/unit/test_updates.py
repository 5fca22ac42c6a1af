"""Reading updates: the fields a course uses are validated, everything else is ignored, and
anything that is not an update of the kinds a course reacts to means nothing."""

from __future__ import annotations

from adapters.telegram.updates import read_update, translate
from engine.events import Button, PollAnswer, Text, WebAppData
from runtime.inbound import Command, Confirmation, StartRequest, VoiceNote

STUDENT = {"id": 42, "is_bot": False, "first_name": "Ann", "language_code": "ru"}
CHAT = {"id": 42, "type": "private", "first_name": "Ann"}


def message(**fields: object) -> dict:
    return {
        "update_id": 7,
        "message": {"message_id": 3, "date": 0, "chat": CHAT, "from": STUDENT, **fields},
    }


def test_a_text_is_what_the_student_typed_with_who_and_where():
    inbound = translate(read_update(message(text="hello", entities=[])))

    assert inbound.action == Text("hello")
    assert (inbound.chat_id, inbound.chat_type, inbound.message_id) == (42, "private", 3)
    assert inbound.student.telegram_user_id == 42
    assert inbound.student.language_code == "ru"


def test_start_with_a_deep_link_keeps_its_payload():
    assert translate(read_update(message(text="/start cd_5_abc"))).action == StartRequest(
        "cd_5_abc"
    )
    assert translate(read_update(message(text="/start@school_bot"))).action == StartRequest(None)


def test_student_commands_and_their_buttons_are_not_course_answers():
    assert translate(read_update(message(text="/progress"))).action == Command("progress")
    assert translate(read_update(message(text="/stop@school_bot"))).action == Command("stop")
    assert translate(read_update(message(text="/progressive"))).action == Text("/progressive")
    update = {
        "update_id": 8,
        "callback_query": {
            "id": "q1",
            "from": STUDENT,
            "chat_instance": "c",
            "data": "cmd:r:77",
            "message": {"message_id": 9, "date": 0, "chat": CHAT, "text": "restart?"},
        },
    }
    inbound = translate(read_update(update))
    assert inbound.action == Confirmation("restart", 77)
    assert inbound.callback_query_id == "q1"


def test_voice_and_mini_app_data():
    voice = message(voice={"file_id": "F", "file_unique_id": "U", "duration": 4})
    assert translate(read_update(voice)).action == VoiceNote("F", 4)
    webapp = message(web_app_data={"data": '{"a": 1}', "button_text": "Go"})
    assert translate(read_update(webapp)).action == WebAppData('{"a": 1}')


def test_a_button_press_carries_its_data_and_query_id():
    update = {
        "update_id": 8,
        "callback_query": {
            "id": "q1",
            "from": STUDENT,
            "chat_instance": "c",
            "data": "3:1",
            "message": {"message_id": 9, "date": 0, "chat": CHAT, "text": "pick"},
        },
    }
    inbound = translate(read_update(update))

    assert inbound.action == Button("3:1")
    assert (inbound.callback_query_id, inbound.message_id) == ("q1", 9)


def test_a_poll_answer_belongs_to_the_voters_private_chat():
    update = {
        "update_id": 9,
        "poll_answer": {"poll_id": "p", "user": STUDENT, "option_ids": [0, 2]},
    }
    inbound = translate(read_update(update))

    assert inbound.action == PollAnswer("p", (0, 2))
    assert inbound.chat_id == 42


def test_what_a_course_does_not_react_to_means_nothing():
    sticker = message(sticker={"file_id": "s"})
    from_a_bot = message(text="hi")
    from_a_bot["message"]["from"] = {**STUDENT, "is_bot": True}
    edited = {"update_id": 10, "edited_message": message(text="x")["message"]}
    for update in (sticker, from_a_bot, edited):
        assert translate(read_update(update)) is None


def test_hostile_junk_is_not_an_update():
    for junk in (
        None,
        "text",
        [],
        {},
        {"update_id": "7"},  # a string id is not an update id
        {"update_id": 7, "message": {"message_id": 1, "chat": {"id": "x", "type": "private"}}},
        {"update_id": 7, "poll_answer": {"poll_id": "p", "option_ids": ["a"]}},
    ):
        assert read_update(junk) is None, junk
