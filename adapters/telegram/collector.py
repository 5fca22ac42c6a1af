"""Python's cyclic garbage collector, tuned while the runtime runs.

The runtime keeps a large heap that lives as long as the process (built courses, run
states, the ORM's and aiogram's type machinery, thousands of hosted bots), and it allocates
quickly: every update builds request and answer models. With the default thresholds the
collector ran its full pass over that whole heap again and again, and took about 40% of the
runtime's CPU under load (docs/benchmarks.md). So, while the runtime runs:

- everything alive once the pool has started is moved out of the collector's sight
  (`gc.freeze()`): it is the long-lived heap, and scanning it finds nothing to free;
- the youngest generation is collected after 50,000 allocations instead of 700, and a full
  pass happens a hundred times less often. Reference counting still frees almost everything
  at once; the collector is only for cycles, which the hot path hardly makes.

Stopping the runtime restores the previous settings.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


class CollectorTuning:
    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None

    def apply(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)

    def restore(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
            self._saved = None
