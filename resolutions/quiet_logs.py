"""No traceback, in the terminal or the Prefect UI, for a failure the operator is given a playbook or one line for.

Prefect logs a task's or a flow's exception with its traceback on the run loggers (`prefect.task_runs`,
`prefect.flow_runs`), whose records go to the API (the UI's log) and the console. For a typed failure (its
playbook is the run's artifact), a bad input (one line) or a run whose syncs failed (each named, with its
playbook), the traceback only buries the message: such an exception's class says so (`quiet_traceback`), and
this filter keeps the line and drops the traceback. Any other exception keeps its traceback: a bug to report.

The reason is said once, by the run: the engines' "Encountered exception during execution" and "Task run
failed with exception" lines for such an exception repeat it, and are dropped; their "Finished in state
Failed(<the reason>)" lines keep the state's name only (the state keeps its message, which the UI shows).
"""

from __future__ import annotations

import logging

RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


def expected(exc: BaseException | None) -> bool:
    """An exception whose message is all the operator needs (its class sets `quiet_traceback`)."""
    return exc is not None and bool(getattr(type(exc), "quiet_traceback", False))


_ENCOUNTERED = ("Encountered exception during execution", "Task run failed with exception")
_FINISHED = "Finished in state"


class DropExpectedTracebacks(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._said: set[str] = set()  # the reasons of expected exceptions this process has logged

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if expected(exc):
            record.exc_info = None
            record.exc_text = None
            if record.getMessage().startswith(_ENCOUNTERED):
                self._said.add(str(exc))
                return False
        elif str(record.msg).startswith(_FINISHED) and self._said:
            text = record.getMessage()
            said = next((reason for reason in self._said if reason and reason in text), None)
            if said is not None:
                self._said.discard(said)
                name = text[len(_FINISHED) :].strip().split("(", 1)[0] or "Failed"
                record.msg, record.args = f"{_FINISHED} {name} (its reason is in the flow run's log)", ()
        return True


def quiet_expected_tracebacks() -> None:
    """Install the filter on the run loggers (once per process; a logger filter sees every record the run
    loggers make, before any handler: the API's and the console's alike)."""
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropExpectedTracebacks) for f in logger.filters):
            logger.addFilter(DropExpectedTracebacks())
