"""Where a command's Prefect API comes from: PREFECT_API_URL when set, else a local server started for the command.

Prefect's own temporary server does not fit a command line: it must answer within
PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (20 s), which a fresh database's migrations overrun on a busy
machine; it shares this process's process group, so the terminal's Ctrl-C kills it under the run; and every
other command (`ac-sync resolve` in a second shell) starts one more. The server started here waits for its
database as long as it is alive (no race against a clock), runs in a session of its own (only this process
stops it, after the run's last state is recorded), and announces itself under PREFECT_HOME so that `ac-sync
resolve` from another shell uses it rather than starting its own. It serves the API only, no UI. Whatever
ends a command — a signal while the server starts included — stops the server it started; and a server left
by a command killed outright (SIGKILL) is stopped by the next command on the same PREFECT_HOME.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ac_sync.engine.errors import ConfigError
from ac_sync.engine.secrets import SECRET_ENV

# How long the local server may take to create or migrate its database before the command gives up. Generous:
# a fresh database took 15.7 s on a quiet 2-core machine, and several times that on a busy one.
STARTUP_LIMIT_S = 600.0
ANNOUNCE_DIR = "ac-sync-servers"


@dataclass(frozen=True)
class PrefectApi:
    url: str
    ui_url: str | None  # the UI that shows this API's runs; None for the local server (it serves no UI)
    local: bool  # started by this command (or another ac-sync command) for its own use


def configured_api() -> PrefectApi | None:
    """The API the environment or the Prefect profile names, with its UI; None when none is set."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    url = settings.api.url
    if not url:
        return None
    ui = settings.ui_url or str(url).removesuffix("/").removesuffix("/api")
    return PrefectApi(str(url), str(ui) if ui else None, local=False)


def _reachable(api_url: str) -> None:
    """Refuse at once an API nothing answers at (a typo, a server not started); its answers are the run's."""
    try:
        answer = httpx.get(f"{api_url.rstrip('/')}/health", timeout=10)
    except httpx.TransportError as exc:
        raise ConfigError(
            f"nothing answers at PREFECT_API_URL {api_url} ({type(exc).__name__}): start that Prefect server, or"
            " unset PREFECT_API_URL to let the command start a local one"
        ) from None
    if answer.status_code != 200:
        raise ConfigError(
            f"PREFECT_API_URL {api_url} answers {answer.status_code} where a Prefect API answers its health: is it"
            " the API's URL (it ends in /api)?"
        )


def _home() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalServer:
    """A Prefect API server (SQLite in PREFECT_HOME) in its own session, stopped by `stop`."""

    def __init__(self) -> None:
        self.home = _home()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.home / "ac-sync-server.log"
        self._announced: Path | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _spawn(self) -> subprocess.Popen[bytes]:
        import prefect
        from prefect.settings import get_current_settings

        self.port = _free_port()
        env = {
            **os.environ,
            **get_current_settings().to_environment_variables(exclude_unset=True),
            # As Prefect starts its temporary server: the API only, its services trimmed to what a run needs.
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        for name in SECRET_ENV:  # the server never needs them, and lives longer than the command
            env.pop(name, None)
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(Path(prefect.__file__).parent.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C reaches this command, never its server
            )

    def start(self) -> str:
        """Start the server and answer its API URL; whatever ends the start (a signal, a failure), the server
        it spawned is stopped."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> str:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        self.home.mkdir(parents=True, exist_ok=True)
        # One start at a time per PREFECT_HOME: two servers migrating one fresh database at once crash.
        with (self.home / "ac-sync-server.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for _ in range(3):  # another process may take the free port between choosing and binding it
                # A signal waits until the child is both spawned and on record: none is left unknown.
                with _signals_held():
                    self.proc = self._spawn()
                    self._announce(ready=False)
                while self.proc.poll() is None and time.monotonic() < deadline:
                    if _healthy(self.api_url):
                        self._announce(ready=True)
                        return self.api_url
                    time.sleep(0.1)
                if self.proc.poll() is None:
                    break
        self.stop()
        tail = self._log_tail()
        raise ConfigError(
            f"the local Prefect API server did not start (log: {self.log_path}{': ' + tail if tail else ''});"
            " or set PREFECT_API_URL to a running Prefect server"
        )

    def _log_tail(self) -> str:
        try:
            lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1][:200] if lines else ""

    def _announce(self, *, ready: bool) -> None:
        """The record of this command's server: its URL once it answers (`ready`), and from its spawn on, its
        pid, so that the next command finds and stops it if this one is killed (kill -9) before it could."""
        assert self.proc is not None
        folder = self.home / ANNOUNCE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{os.getpid()}.json"
        record = {
            "url": self.api_url,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "server_pid": self.proc.pid,
            "ready": ready,
        }
        path.write_text(json.dumps(record), encoding="utf-8")
        self._announced = path

    def stop(self) -> None:
        if self._announced is not None:
            self._announced.unlink(missing_ok=True)
            self._announced = None
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _records() -> Iterator[tuple[Path, dict[str, Any]]]:
    folder = _home() / ANNOUNCE_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            int(entry["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        yield path, entry


def announced_server() -> str | None:
    """The API of a local server another ac-sync command runs on this PREFECT_HOME (a paused run's), if any."""
    for _, entry in _records():
        if entry.get("ready", True) and _alive(int(entry["pid"])) and _healthy(str(entry.get("url"))):
            return str(entry["url"])
    return None


def stop_orphans() -> list[int]:
    """Stop the local servers whose command is gone (killed with SIGKILL, or crashed before it could stop its
    server) on this PREFECT_HOME; answers their pids."""
    stopped = []
    for path, entry in _records():
        if entry.get("host", socket.gethostname()) != socket.gethostname() or _alive(int(entry["pid"])):
            continue  # another host's pids are not this one's to judge
        server = int(entry.get("server_pid") or 0)
        if server and _alive(server) and _is_local_server(server):
            _end_group(server)
            stopped.append(server)
        path.unlink(missing_ok=True)
    return stopped


def _is_local_server(pid: int) -> bool:
    """Whether `pid` is still a Prefect API server (a pid the system gave to another process is left alone)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"prefect.server.api.server:create_app" in cmdline


def _end_group(pid: int) -> None:
    """SIGTERM to the server's session (it leads one), then SIGKILL if it has not ended within 10 s."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and _is_local_server(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid) and _is_local_server(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back for the block (delivered at its end), on the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextlib.contextmanager
def prefect_api(status: Callable[[str], None] = lambda _: None, *, reuse: bool = False) -> Iterator[PrefectApi]:
    """The Prefect API for this command: the configured one, else (with `reuse`) a running local one, else a
    local server started now and stopped when the block ends."""
    found = configured_api()
    if found is not None:
        _reachable(found.url)
        yield found
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    stop_orphans()
    url = announced_server() if reuse else None
    server = None
    if url is None:
        first = not (_home() / "prefect.db").exists()
        status("starting a local Prefect API" + (" (its first start creates its database)" if first else ""))
        server = LocalServer()
        url = server.start()
    # Threads that Prefect starts read the environment; this thread reads the settings context. No UI URL: the
    # server has no UI, and Prefect would otherwise print a "View at" link to a page that is not there.
    updates = {"PREFECT_API_URL": url, "PREFECT_UI_URL": ""}
    before = {name: os.environ.get(name) for name in updates}
    os.environ.update(updates)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_UI_URL: ""}):
            try:
                yield PrefectApi(url, None, local=True)
            finally:
                if server is not None:
                    _drain()
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if server is not None:
            server.stop()


def _drain() -> None:
    """Send the run's last log lines and events while the server that takes them is still up."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=5)
