"""The live display of a run: its phase, the upload's bar with contacts per second and an ETA, or what a pause
waits for and until when; Prefect's log lines print above it through the same console, never into it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ac_sync.engine import progress as notices

RATE_WINDOW_S = 15.0  # contacts per second over the last this many seconds: steady, yet quick to follow a change


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunDisplay:
    """One live region on `console`; `on_notice` takes the flow's notices (from any thread)."""

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.live_capable = enabled and console.is_interactive  # a terminal whose cursor moves
        self.phase = "starting"
        self.detail = ""
        self.done = 0
        self.total: int | None = None
        self.paused: notices.Paused | None = None  # while it waits
        self.flow_run_id: str | None = None
        self.stopping: str | None = None
        self.stopped_summary: dict[str, Any] | None = None  # what a stopped run says it had done
        self._samples: deque[tuple[float, int]] = deque()
        self._live: Live | None = None
        self._spinner = Spinner("dots", style="cyan")

    # --- what the flow says -----------------------------------------------------------------------------

    def status(self, text: str) -> None:
        """A phase of the command itself (starting the local API), before the flow publishes its own."""
        self._set_phase(text, "")

    def on_notice(self, notice: notices.Notice) -> None:
        if isinstance(notice, notices.Phase):
            self.paused = None
            self.flow_run_id = notice.flow_run_id or self.flow_run_id
            self._set_phase(notice.name, notice.detail)
        elif isinstance(notice, notices.Progress):
            if self.phase != notices.UPLOADING:
                self._set_phase(notices.UPLOADING, "")
            self.done, self.total = notice.done, notice.total
            now = time.monotonic()
            self._samples.append((now, notice.done))
            while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
                self._samples.popleft()
        elif isinstance(notice, notices.Paused):
            self.flow_run_id = notice.flow_run_id
            self.paused = notice if notice.waiting else None
        elif isinstance(notice, notices.Stopped):
            self.stopped_summary = notice.summary

    def stop_requested(self, text: str) -> None:
        self.stopping = text
        if self.enabled and not self.live_capable:
            self.console.print(text)

    def _set_phase(self, name: str, detail: str) -> None:
        if (name, detail) == (self.phase, self.detail):
            return
        self.phase, self.detail = name, detail
        if name == notices.UPLOADING:
            self._samples.clear()
        if self.enabled and not self.live_capable:
            # No terminal to redraw (a log file, a pipe): one line per phase.
            self.console.print(f"… {name}" + (f": {detail}" if detail else ""), highlight=False, soft_wrap=True)

    # --- what it shows ----------------------------------------------------------------------------------

    def rate(self) -> float | None:
        """Contacts per second over the recent window, once there are two samples apart in time."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    def render(self) -> RenderableType:
        if self.stopping:
            return Text.assemble(("■ ", "yellow"), (self.stopping, "yellow"))
        if self.paused is not None:
            return self._render_paused(self.paused)
        if self.phase == notices.UPLOADING and self.total:
            return self._render_upload(self.total)
        line = Table.grid(padding=(0, 1))
        line.add_row(self._spinner, Text(self.phase + (f": {self.detail}" if self.detail else "")))
        return line

    def _render_upload(self, total: int) -> RenderableType:
        rate = self.rate()
        parts = [f"{self.done:,}/{total:,} contacts"]
        if rate is not None and rate > 0:
            parts.append(f"{rate:,.0f}/s")
            parts.append(f"ETA {_clock((total - self.done) / rate)}")
        else:
            parts.append("measuring the rate")
        line = Table.grid(padding=(0, 1))
        line.add_row(
            self._spinner,
            Text("uploading"),
            ProgressBar(total=total, completed=min(self.done, total), width=30),
            Text(" · ".join(parts)),
        )
        return line

    def _render_paused(self, paused: notices.Paused) -> RenderableType:
        until = ""
        if paused.deadline is not None:
            left = (paused.deadline - datetime.now(UTC)).total_seconds()
            at = paused.deadline.astimezone().strftime("%H:%M:%S")
            until = f" until {at} (in {_clock(left)})"
        head = Text.assemble(
            ("⏸ paused", "bold yellow"),
            f" on {paused.code}" + (f" ({paused.title})" if paused.title else ""),
        )
        rest = Text(f"  waiting for a resolution{until}: one of the ac-sync resolve commands above")
        return Group(head, rest)

    # --- the live region --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def shown(self) -> Iterator[RunDisplay]:
        """Show the live region, with Prefect's console log lines printed above it."""
        if not self.enabled:
            yield self
            return
        with _logs_through(self.console, muted=lambda: self.stopping is not None):
            if not self.live_capable:
                yield self
                return
            # stdout stays the program's own (the --json line); only this console's region is redrawn.
            self._live = Live(
                get_renderable=self.render,
                console=self.console,
                transient=True,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            with self._live:
                yield self
            self._live = None


def _prefect_console_handlers() -> list[logging.Handler]:
    import prefect.main  # noqa: F401 - it configures Prefect's logging, whose console handlers are looked for
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [h for lg in loggers for h in lg.handlers if isinstance(h, PrefectConsoleHandler)]


class _Rendered:
    """A renderable drawn by another console: Prefect's, with its theme of log-level colours."""

    def __init__(self, console: Console, text: Text) -> None:
        self.console, self.text = console, text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.console.render(self.text, options)


class _PrintThrough:
    """Stands in for a Prefect console handler's console: formats a line as Prefect would (its highlighting,
    no markup), and prints it through `target`, so that a live region there stays below it."""

    def __init__(self, original: Console, target: Console, muted: Callable[[], bool]) -> None:
        self.original, self.target, self.muted = original, target, muted

    def print(self, message: object, *args: object, soft_wrap: bool = True, **kwargs: object) -> None:
        if self.muted():
            return  # a stopping run's engine reports the interruption as a crash: the stop line says it all
        text = self.original.render_str(message) if isinstance(message, str) else message
        self.target.print(_Rendered(self.original, text) if isinstance(text, Text) else text, soft_wrap=soft_wrap)


@contextlib.contextmanager
def _logs_through(console: Console, muted: Callable[[], bool]) -> Iterator[None]:
    """Prefect's console handlers print through `console`: Rich puts a live region's prints above it."""
    handlers = _prefect_console_handlers()
    before = [(h, h.console) for h in handlers]  # type: ignore[attr-defined]
    for handler, original in before:
        handler.console = _PrintThrough(original, console, muted)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for handler, old_console in before:
            handler.console = old_console  # type: ignore[attr-defined]


def console_for(*, stderr: bool = False) -> Console:
    """A console for the command's output: on a terminal, as wide as it is; into a pipe or a file, lines are not
    wrapped mid-phrase at Rich's 80 columns (a print is one line; markdown is laid out 120 wide)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, soft_wrap=True, width=120)


def plural(n: int | None, word: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`, `1 batch`, `3 batches` (`many` where adding s is wrong)."""
    count = int(n or 0)
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {many or (word + 'es' if word.endswith(('s', 'sh', 'ch', 'x')) else word + 's')}"


def print_markdown(console: Console, markdown: str) -> None:
    """A playbook (markdown) as the terminal shows it."""
    from rich.markdown import Markdown

    console.print(Markdown(markdown))
