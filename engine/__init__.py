"""Pure course engine: course model, run state and `step()`.

Nothing here does I/O or imports asyncio, aiogram, SQLAlchemy, Redis or HTTP clients: the
Telegram runtime feeds events in and executes the effects that come out.
"""

from engine.model import Course, parse_duration
from engine.state import RunState
from engine.step import step

__all__ = ["Course", "RunState", "parse_duration", "step"]
