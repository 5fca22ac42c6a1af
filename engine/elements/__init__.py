"""Element semantics, one module per element type; `handler_for` picks the module."""

from __future__ import annotations

from engine.elements import (
    audio,
    delay,
    dialog,
    end,
    input,
    jump,
    message,
    miniapp,
    multi_choice,
    question,
    quiz,
    revision,
    section,
    test,
)
from engine.elements.base import Handler
from engine.model import (
    AudioElement,
    BaseElement,
    DelayElement,
    DialogElement,
    EndElement,
    InputElement,
    JumpElement,
    MessageElement,
    MiniappElement,
    MultiChoiceElement,
    QuestionElement,
    QuizElement,
    RevisionElement,
    SectionElement,
    TestElement,
)

HANDLERS: dict[type[BaseElement], Handler] = {
    MessageElement: message.HANDLER,
    AudioElement: audio.HANDLER,
    InputElement: input.HANDLER,
    QuizElement: quiz.HANDLER,
    QuestionElement: question.HANDLER,
    MultiChoiceElement: multi_choice.HANDLER,
    DialogElement: dialog.HANDLER,
    MiniappElement: miniapp.HANDLER,
    TestElement: test.HANDLER,
    JumpElement: jump.HANDLER,
    RevisionElement: revision.HANDLER,
    DelayElement: delay.HANDLER,
    EndElement: end.HANDLER,
    SectionElement: section.HANDLER,
}


def handler_for(element: BaseElement) -> Handler:
    return HANDLERS[type(element)]
