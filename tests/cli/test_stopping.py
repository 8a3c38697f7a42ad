"""The signal handling of a command: the first signal cancels the run's coroutine, a second Ctrl-C forces."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from ac_sync.cli.stopping import Stop, Stopper


def signal_when(check: object, signum: int, timeout: float = 30) -> threading.Thread:
    """Send this process `signum` once `check()` holds (a condition, not a clock)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while not check() and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.005)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_cancels_the_run_and_answers_its_exit_code(signum: int) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # What the process had before: Python's default, or SIG_IGN when pytest runs as a shell's background job.
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stopper = Stopper()
    signal_when(started.is_set, signum)
    with pytest.raises(Stop) as stopped, stopper:
        stopper.run(work)
    assert cancelled.is_set() and not stopped.value.forced
    assert stopped.value.exit_code == 128 + signum and stopped.value.signum == signum
    assert {s: signal.getsignal(s) for s in before} == before  # handed back


def test_second_sigint_forces_a_run_that_does_not_stop() -> None:
    started, release = threading.Event(), threading.Event()

    async def stubborn() -> None:
        started.set()
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue  # it will not stop

    stopper = Stopper()
    signal_when(started.is_set, signal.SIGINT)
    signal_when(lambda: stopper.signum is not None, signal.SIGINT)
    try:
        with pytest.raises(Stop) as stopped, stopper:
            stopper.run(stubborn)
    finally:
        release.set()
    assert stopped.value.forced and stopped.value.exit_code == 130


def test_a_signal_before_any_run_unwinds_at_once() -> None:
    stopper = Stopper()
    with pytest.raises(Stop) as stopped, stopper:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted: the handler raises here
    assert stopped.value.signum == signal.SIGTERM
