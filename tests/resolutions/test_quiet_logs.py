"""The reason of an expected failure is logged once: the engine's repeats of it are dropped or shortened."""

from __future__ import annotations

import logging

from ac_sync.resolutions.quiet_logs import DropExpectedTracebacks


class Expected(Exception):
    quiet_traceback = True


def _record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, msg, (), info)


def test_an_expected_failure_is_said_once() -> None:
    quiet = DropExpectedTracebacks()
    exc = Expected("sync L: INVALID_CREDENTIALS in step upload-contacts")
    assert quiet.filter(_record("Encountered exception during execution: %r", exc)) is False
    finished = _record(f"Finished in state Failed('Flow run encountered an exception: Expected: {exc}')")
    assert quiet.filter(finished) is True
    assert finished.getMessage() == "Finished in state Failed (its reason is in the flow run's log)"
    task_said = _record("Task run failed with exception: %r - Retries are exhausted", exc)
    assert quiet.filter(task_said) is False


def test_a_bug_keeps_its_traceback_and_its_lines() -> None:
    quiet = DropExpectedTracebacks()
    exc = KeyError("boom")
    encountered = _record("Encountered exception during execution: %r", exc)
    assert quiet.filter(encountered) is True and encountered.exc_info is not None
    finished = _record("Finished in state Failed('Flow run encountered an exception: KeyError: boom')")
    assert quiet.filter(finished) is True and "KeyError: boom" in finished.getMessage()
