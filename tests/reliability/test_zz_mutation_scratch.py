import pytest
from aiogram.methods import SendMessage
from adapters.telegram import sender as sender_mod
from tests.reliability.test_bot_api_faults import *  # noqa

_orig = sender_mod.BotSender._attempt
_count = {"n": 0}

async def _double(self, job, chat):
    if isinstance(job.call, SendMessage):
        _count["n"] += 1
        if _count["n"] % 17 == 0:
            await self._bot(job.call)
    return await _orig(self, job, chat)

@pytest.fixture(autouse=True)
def double_send(monkeypatch):
    monkeypatch.setattr(sender_mod.BotSender, "_attempt", _double)
