"""Keep tracebacks of expected failures out of the terminal.

Prefect logs every task or flow exception with its traceback. For failures a user can act on (a bad
audience, a missing setting, a typed failure with its playbook) the CLI prints one clear line or the
playbook instead; the traceback would only bury it. Other exceptions keep their tracebacks. The flows put the
same filter on the run loggers (resolutions/quiet_logs.py), which covers the UI's log; this adds the console
handlers of the loggers above them, for what Prefect logs outside a run's loggers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from ac_sync.resolutions.quiet_logs import DropExpectedTracebacks


def _console_handlers() -> list[logging.Handler]:
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(name) for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs")]
    return [h for lg in loggers for h in lg.handlers if isinstance(h, PrefectConsoleHandler | logging.StreamHandler)]


@contextlib.contextmanager
def quiet_expected() -> Iterator[None]:
    handlers = _console_handlers()
    filt = DropExpectedTracebacks()
    for handler in handlers:
        handler.addFilter(filt)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(filt)
