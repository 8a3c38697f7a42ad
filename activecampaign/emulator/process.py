"""The emulator in a child process, for measurements that must not share a GIL with the code under test."""

from __future__ import annotations

import re
import subprocess
import sys

from .config import EmulatorConfig
from .served import Served

_READY = re.compile(r"emulator at (\S+)")


class EmulatorProcess(Served):
    """`python -m ac_sync.activecampaign.emulator` on a free loopback port; same surface as EmulatorServer."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        super().__init__(config)
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> EmulatorProcess:
        args = [sys.executable, "-m", "ac_sync.activecampaign.emulator", "--port", "0"]
        for name, value in self.config.to_dict().items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            else:
                args += [flag, str(value)]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        match = _READY.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"the emulator process did not start: {line!r}")
        self.base_url = match.group(1)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
