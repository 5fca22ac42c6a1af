"""Limits a course source must respect.

Poll limits are Telegram's (Bot API sendPoll): a course that exceeds them would load fine and
then fail for every student at that element, so the loader refuses it up front.
"""

from datetime import timedelta

MAX_SOURCE_BYTES = 1024 * 1024
"""A course is text written by a person; anything bigger is a mistake or an attack."""

MAX_NESTING = 64
"""A course is ~6 levels deep; a deep tree is junk, and libyaml's composer would crash on it."""

MAX_EXPANDED_NODES = 200_000
"""Budget of YAML values after alias expansion (guards against "billion laughs")."""

POLL_QUESTION_MAX_CHARS = 300
POLL_OPTION_MAX_CHARS = 100
POLL_MIN_OPTIONS = 2
POLL_MAX_OPTIONS = 12

MAX_ELEMENT_ID_CHARS = 128

MAX_WAIT = timedelta(days=366)
"""Longest `wait`: beyond a year it is a typo, and far beyond it overflows dates."""
