"""CPU-heavy course work in worker processes, with a per-account limit.

Parsing, validating, exporting or previewing a 30,000-element course takes seconds of CPU.
On the event loop that stalls every bot and page of every account; in a thread it still holds
the GIL. So it runs in a pool of worker processes, and the loop only awaits the answer.

What runs there takes plain data (source text) and returns small, cheap-to-unpickle results
(courses/jobs.py and the panel's job functions): the answer is unpickled in the executor's
own thread, but that still competes with the loop for the GIL.

Fairness between accounts: each account runs at most `jobs_per_account` jobs at once, so one
account can occupy at most that many workers; `queue_per_account` more may wait for a slot,
and beyond that `run` refuses at once (`CourseWorkBusyError`, a 429 in the panel) instead of
piling up work nobody may still be waiting for. Workers lower their own priority, so when
they compete with the event-loop process for a CPU, the loop wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKER_NICENESS = 10
# Imported once by the fork server, so each worker starts with them loaded.
_PRELOAD = ["courses.jobs"]


class CourseWorkBusyError(RuntimeError):
    """The account already has as many course jobs running and waiting as it may."""


@dataclass
class _Lane:
    """One account's jobs: `slots` bounds those running, `jobs` counts running + waiting."""

    slots: asyncio.Semaphore
    jobs: int = 0


class CourseWorkers:
    def __init__(self, *, processes: int, jobs_per_account: int, queue_per_account: int) -> None:
        if processes < 1 or jobs_per_account < 1 or queue_per_account < 0:
            raise ValueError(
                "course workers need processes >= 1, jobs_per_account >= 1, queue_per_account >= 0"
            )
        self._processes = processes
        self._per_account = jobs_per_account
        self._queue = queue_per_account
        self._lanes: dict[int, _Lane] = {}
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # Not fork: the parent runs threads (the executor's own, asyncpg's, aiohttp's DNS)
        # and a forked child could inherit a lock held by one of them.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=context,
            initializer=_worker_setup,
            initargs=(os.getpid(),),
        )

    async def start(self) -> None:
        """Start every worker now, in a thread: the first job would otherwise start them on
        the loop (and the fork server's start-up imports block whoever asks first)."""
        await asyncio.to_thread(self._start_workers)

    def _start_workers(self) -> None:
        for job in [self._executor.submit(os.getpid) for _ in range(self._processes)]:
            job.result()

    async def close(self) -> None:
        """Stop the workers (a job still running is waited for; queued ones are dropped)."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    def jobs(self, account_id: int) -> int:
        """The account's jobs running or waiting for a slot."""
        lane = self._lanes.get(account_id)
        return lane.jobs if lane is not None else 0

    async def run(
        self,
        account_id: int,
        fn: Callable[..., T],
        *args: Any,
        refuse_when_busy: bool = True,
    ) -> T:
        """`fn(*args)` in a worker process, within the account's limit.

        `fn` must be a module-level function and its arguments and result picklable. With
        `refuse_when_busy` (a person asked, and may ask again), an account whose queue is
        full gets `CourseWorkBusyError` at once; without it (the runtime needs a course to
        go on) the job waits its turn however long the queue is.
        """
        lane = self._lanes.get(account_id)
        if lane is None:
            lane = self._lanes[account_id] = _Lane(asyncio.Semaphore(self._per_account))
        if refuse_when_busy and lane.jobs >= self._per_account + self._queue:
            raise CourseWorkBusyError(f"account {account_id} has {lane.jobs} course jobs")
        lane.jobs += 1
        try:
            await lane.slots.acquire()
        except BaseException:
            self._leave(account_id, lane)
            raise
        executor = self._executor
        try:
            job = executor.submit(fn, *args)
        except BaseException as exc:
            self._finished(account_id, lane)
            if isinstance(exc, BrokenProcessPool):
                self._replace(executor)
            raise
        # The slot is held until the worker is done, even when the caller stops waiting (a
        # closed browser tab): a job already running cannot be taken back from its process.
        loop = asyncio.get_running_loop()
        job.add_done_callback(lambda _: _call_soon(loop, self._finished, account_id, lane))
        try:
            return await asyncio.wrap_future(job)
        except BrokenProcessPool:
            self._replace(executor)
            raise

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A worker died (killed, out of memory): its executor refuses every job from then
        on, so a new one takes its place (once, however many jobs saw it break)."""
        if self._executor is not broken:
            return
        log.error("a course worker process died; starting new workers")
        self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def _finished(self, account_id: int, lane: _Lane) -> None:
        lane.slots.release()
        self._leave(account_id, lane)

    def _leave(self, account_id: int, lane: _Lane) -> None:
        lane.jobs -= 1
        if lane.jobs == 0 and self._lanes.get(account_id) is lane:
            del self._lanes[account_id]  # idle accounts cost nothing


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to account for
        loop.call_soon_threadsafe(fn, *args)


def _worker_setup(owner_pid: int) -> None:
    """In each worker: yield the CPU to the event-loop process, leave Ctrl-C to the owner
    (which stops the pool itself), and end with the owner even when it is killed outright
    (`kill -9`): an orphaned worker would otherwise wait for jobs forever, holding the
    owner's stdout open."""
    os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_after, args=(owner_pid,), daemon=True).start()


def _exit_after(owner_pid: int) -> None:
    try:
        handle = os.pidfd_open(owner_pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or the owner is gone already
        while _alive(owner_pid):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])  # readable once the owner has exited
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
