"""No traceback, in the terminal or the Prefect UI, for a failure the operator is given a playbook or one line for.

Prefect logs a task's or a flow's exception with its traceback on the run loggers (`prefect.task_runs`,
`prefect.flow_runs`), whose records go to the API (the UI's log) and the console. For a typed failure (its
playbook is the run's artifact), a bad input (one line) or a run whose syncs failed (each named, with its
playbook), the traceback only buries the message: such an exception's class says so (`quiet_traceback`), and
this filter keeps the line and drops the traceback. Any other exception keeps its traceback: a bug to report.
"""

from __future__ import annotations

import logging

RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


def expected(exc: BaseException | None) -> bool:
    """An exception whose message is all the operator needs (its class sets `quiet_traceback`)."""
    return exc is not None and bool(getattr(type(exc), "quiet_traceback", False))


class DropExpectedTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if expected(exc):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_expected_tracebacks() -> None:
    """Install the filter on the run loggers (once per process; a logger filter sees every record the run
    loggers make, before any handler: the API's and the console's alike)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropExpectedTracebacks) for f in logger.filters):
            logger.addFilter(DropExpectedTracebacks())
