"""How far a run may go on its own (DESIGN §10: no tenant can stall the process).

A step runs on the event loop every bot shares, inside one database transaction, so what
one step may do is bounded; and a course that goes round without ever needing the student
is stopped rather than messaging them forever.
"""

MAX_ELEMENTS_PER_STEP = 100
"""Elements one step may enter. When a stretch without input is longer, the step ends with
a continuation (a timer due at once) and the next step goes on where this one stopped, so
every message still arrives, in order, a bounded batch per step."""

MAX_UNATTENDED_STEPS = 1_000
"""Steps a run may take since the student's last answer (timers, continuations, LLM
replies) before it is halted as a loop. A course without such a loop stays well below:
the largest course a 1 MiB source holds (about 52,000 one-line elements) needs about 520
continuations, a daily drip course of two years 730 timers."""

HALTED_NO_STUDENT_INPUT = "no_student_input"
"""The note of a run halted after MAX_UNATTENDED_STEPS steps without the student."""
