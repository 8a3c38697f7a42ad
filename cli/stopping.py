"""Ctrl-C and SIGTERM: the first stops the run within seconds, a second Ctrl-C forces; never a traceback.

The flow runs on a thread of its own with its own event loop, and this (main) thread keeps the signals: so
Prefect's engine installs no SIGTERM handler of its own (it does only on the main thread), and a signal
becomes a cancellation of the flow's coroutine rather than a KeyboardInterrupt at a random line. Cancelled,
the run gives up at its next await: an upload records a batch's id the moment the API accepts it and sends
one batch at a time, so at most the batch whose answer was in flight is sent again by the next run, which
confirms the others by polling.
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

GRACE_S = 15.0  # after a stop, how long the run may take to give up (a DuckDB query in a thread runs on)
NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class Stop(BaseException):
    """A signal stopped the command (BaseException: no `except Exception` on the way may swallow it)."""

    def __init__(self, signum: int, *, forced: bool = False, lingering: bool = False) -> None:
        super().__init__(signum)
        self.signum = signum
        self.forced = forced  # a second Ctrl-C: nothing waited for
        self.lingering = lingering  # the run's thread had not ended within GRACE_S

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return NAMES.get(signal.Signals(self.signum), f"signal {self.signum}")


class Stopper:
    """Holds SIGINT and SIGTERM for a command; `run` executes a coroutine that the first signal cancels."""

    def __init__(self, on_stop: Callable[[Stop], None] = lambda _: None) -> None:
        self.on_stop = on_stop
        self.signum: int | None = None
        self._cancel: Callable[[], None] | None = None
        self._before: dict[int, Any] = {}

    def __enter__(self) -> Stopper:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._before[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._before.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            if self._cancel is None:
                raise Stop(signum)  # nothing running yet: unwind this thread at once
            self.on_stop(Stop(signum))
            self._cancel()
        elif signum == signal.SIGINT:
            raise Stop(self.signum, forced=True)
        # A second SIGTERM: the stop is under way already.

    def run(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """`work()` on its own thread and loop, in this thread's context (settings); its result, or its
        exception, or Stop once a signal stopped it (with `lingering` when it did not end within GRACE_S)."""
        done = threading.Event()
        box: dict[str, Any] = {}

        async def main() -> Any:
            task = asyncio.current_task()
            assert task is not None
            loop = asyncio.get_running_loop()
            # First the way to cancel, then the look at a signal that came meanwhile: one of them sees it.
            self._cancel = lambda: loop.call_soon_threadsafe(task.cancel)
            if self.signum is not None:
                task.cancel()
            return await work()

        def target() -> None:
            try:
                box["result"] = asyncio.run(main())
            except BaseException as exc:  # handed to the main thread as it is
                box["error"] = exc
            finally:
                done.set()

        self._cancel = lambda: None  # until the loop runs; main() then sees the signal itself
        thread = threading.Thread(target=contextvars.copy_context().run, args=(target,), name="ac-sync-run")
        thread.daemon = True  # a lingering run must not hold the process's exit
        thread.start()
        give_up: float | None = None
        try:
            while not done.wait(0.1):
                if self.signum is not None:
                    give_up = give_up or time.monotonic() + GRACE_S
                    if time.monotonic() > give_up:
                        raise Stop(self.signum, lingering=True)
        finally:
            self._cancel = None
        if self.signum is not None and "result" not in box:
            raise Stop(self.signum)  # (a run that finished as the signal came keeps its result)
        if "error" in box:
            raise box["error"]
        return box.get("result")
