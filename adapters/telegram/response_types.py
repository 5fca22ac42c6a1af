"""Keep aiogram's parametrised `Response[...]` models alive for the life of the process.

aiogram parses every Bot API answer with `Response[method.__returning__]`. pydantic caches
parametrised generics in a `WeakValueDictionary`, and aiogram keeps no reference to them, so
each garbage collection frees `Response[Message]` & co. and the next call builds the model
again (5-20 ms of schema generation). Under load a collection runs every few updates, and
rebuilding these classes was the runtime's largest single CPU cost (benchmarks/throughput.py,
docs/benchmarks.md). Holding one reference per return type makes every later lookup a hit.
"""

from __future__ import annotations

from typing import Any

from aiogram import methods
from aiogram.methods import Response

from adapters.telegram import lean_methods

# Every method the runtime calls, and the few it is likely to call next; methods sharing a
# return type (most return Message or bool) share one pinned model.
RUNTIME_METHODS: tuple[type[methods.TelegramMethod[Any]], ...] = (
    methods.GetMe,
    methods.GetUpdates,
    methods.DeleteWebhook,
    methods.SetWebhook,
    methods.GetWebhookInfo,
    methods.SendMessage,
    methods.SendPoll,
    methods.SendPhoto,
    methods.SendVideo,
    methods.SendAudio,
    methods.SendVoice,
    methods.SendDocument,
    methods.SendMediaGroup,
    methods.SendChatAction,
    methods.SendInvoice,
    methods.AnswerCallbackQuery,
    methods.AnswerPreCheckoutQuery,
    methods.EditMessageReplyMarkup,
    methods.EditMessageText,
    methods.GetFile,
    lean_methods.WireCall,  # Any
    lean_methods.LeanGetUpdates,  # list[dict[str, Any]]
)

_pinned: dict[str, Any] = {}


def pin_response_types() -> int:
    """Build and keep `Response[T]` for the runtime's methods (idempotent, ~50 ms once);
    returns how many distinct models are held."""
    for method in RUNTIME_METHODS:
        returning = method.__returning__
        key = repr(returning)
        if key not in _pinned:
            _pinned[key] = Response[returning]  # type: ignore[valid-type]  # built at run time
    return len(_pinned)
