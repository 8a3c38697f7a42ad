"""What EmulatorServer and EmulatorProcess share: their options, base URL, key, and use in a `with` block."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from .config import EmulatorConfig


class Served:
    """An emulator being served somewhere; subclasses say where, in start() and stop()."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.base_url = ""

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/3"

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
