"""A real `prefect server start` on loopback for end-to-end tests, and what those tests drive around it.

One server serves the whole test session, whichever module asks first (starting one costs ~7 s), with its
own temporary PREFECT_HOME; clients (the `ac-sync` and `prefect` commands, workers) get another temporary
home, so that nothing reads or writes the developer's ~/.prefect. Every child process gets an environment
built from scratch for this server: a session that also runs `prefect_test_harness` has PREFECT_API_URL
pointing elsewhere in-process.

Test modules load this file as a plugin (`pytest_plugins`) after importing its helpers, too late for
pytest to rewrite its asserts, so it opts out (PYTEST_DONT_REWRITE): its asserts carry their own messages.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.client.schemas.objects import StateType

from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess

REPO = Path(__file__).resolve().parents[1]
POOL = "ac-sync"
DEPLOYMENT = "sync-audience/scheduled"
CREDENTIALS_BLOCK = "ac-emulator"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.25) -> Any:
    """Poll `check` until it answers something truthy; generous deadlines, no timing asserted."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _stop_group(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Stop a child started in its own session, with everything it started (the server's uvicorn)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


@dataclass
class PrefectServer:
    """`prefect server start` on a free loopback port; the UI is served at `ui_url`."""

    root: Path
    port: int = 0
    log_path: Path = field(init=False)
    _proc: subprocess.Popen[bytes] | None = None
    deployed: bool = False

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def client_home(self) -> Path:
        return self.root / "client-home"

    def start(self, timeout: float = 120) -> PrefectServer:
        self.port = self.port or free_port()
        (self.root / "server-home").mkdir(parents=True, exist_ok=True)
        self.client_home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / "server.log"
        env = {
            **base_env(),
            "PREFECT_HOME": str(self.root / "server-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # No cron runs of their own: the tests start every run, and a 06:00 UTC run must not join one.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            # The UI's own calls, and the links in automation templates, must name this port.
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_UI_URL": self.ui_url,
        }
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def healthy() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"prefect server exited {self._proc.returncode}:\n{self.log_path.read_text()}")
            try:
                return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, "the Prefect server to answer /api/health", timeout=timeout, every=0.5)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            _stop_group(self._proc)
            self._proc = None

    # --- clients of this server ------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **base_env(),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.client_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **extra,
        }

    def run(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """A command (`ac-sync ...` or `prefect ...`) from the repo's folder, as an operator would type it."""
        module = {"ac-sync": "ac_sync.cli.app", "prefect": "prefect"}[args[0]]
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args[1:]],
            env=env or self.env(),
            cwd=REPO,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a worker's flow-run child is stopped with it on a timeout
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            raise AssertionError(f"{' '.join(args)} did not end within {timeout} s") from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def ok(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        done = self.run(*args, **kw)
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    @contextmanager
    def settings(self) -> Iterator[None]:
        """In-process Prefect calls (get_client, resume_flow_run) aimed at this server."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield

    def api(self) -> Any:
        """A synchronous Prefect client of this server (use it in a `with`)."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api_url)


def base_env() -> dict[str, str]:
    """This process's environment without Prefect's or ac-sync's settings (tests set what they need)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AC_SYNC_"))}


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """A running `prefect server start`, one for the session (test modules load this file as a plugin)."""
    with tempfile.TemporaryDirectory(prefix="ac-sync-prefect-") as root:
        server = PrefectServer(Path(root))
        try:
            yield server.start()
        finally:
            server.stop()


# --- the emulator and the worker's machine ----------------------------------------------------------------


@pytest.fixture
def emulator_proc(_emulator_process: EmulatorProcess) -> EmulatorProcess:
    """The session's emulator process (conftest), reset to a fresh account at time-scale 10."""
    with httpx.Client(base_url=f"{_emulator_process.base_url}/__emulator__") as admin:
        admin.post("/config", json=EmulatorConfig(time_scale=10).to_dict()).raise_for_status()
        admin.post("/reset").raise_for_status()
    return _emulator_process


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    """What the machine running the worker sets; the URL and key come from the block, not from here."""
    return {
        "AC_SYNC_TIME_SCALE": "10",
        "AC_SYNC_STATE": str(tmp_path / "state"),
        "AC_SYNC_VERBOSE_LOG_PATH": str(tmp_path / "rejected.csv"),
    }


# --- the deployment, runs, workers ------------------------------------------------------------------------


def deploy(server: PrefectServer) -> None:
    """`ac-sync setup` and `prefect deploy --all` from the repo's prefect.yaml (once per server)."""
    if server.deployed:
        return
    server.ok("ac-sync", "setup", "--pool", POOL)
    server.ok("prefect", "--no-prompt", "deploy", "--all")
    server.deployed = True


def save_credentials(server: PrefectServer, api_url: str, api_key: str, *, from_stdin: bool = False) -> None:
    """`ac-sync credentials save` with the key in the environment or on standard input, as the README says."""
    args = ["ac-sync", "credentials", "save", CREDENTIALS_BLOCK, "--api-url", api_url]
    if from_stdin:
        server.ok(*args, "--api-key-stdin", stdin=f"{api_key}\n")
    else:
        server.ok(*args, env=server.env(AC_SYNC_API_KEY=api_key))


def trigger(server: PrefectServer, deployment: str = DEPLOYMENT, **params: Any) -> str:
    """`prefect deployment run` with per-run parameters; answer the new flow run's id."""
    args = ["prefect", "deployment", "run", deployment]
    for name, value in {"credentials_block": CREDENTIALS_BLOCK, **params}.items():
        # The command parses each value as JSON when it can, so 0 arrives as a number.
        args += ["--param", f"{name}={value if isinstance(value, str) else json.dumps(value)}"]
    done = server.ok(*args)
    match = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert match, done.stdout
    return match.group(1)


def run_worker(server: PrefectServer, worker_env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """One `prefect worker start --run-once`: it runs what is due in the pool, then exits."""
    return server.ok("prefect", "worker", "start", "--pool", POOL, "--run-once", *extra, env=server.env(**worker_env))


@contextmanager
def running_workers(server: PrefectServer, worker_env: dict[str, str], count: int) -> Iterator[list[Path]]:
    """`count` long-lived `prefect worker start --limit 1` processes (each takes one run at a time, polling
    every second); yields the files their output goes to, and stops them (and their flow runs) on leaving."""
    env = server.env(**worker_env, PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")
    procs: list[subprocess.Popen[Any]] = []
    logs = [server.root / f"worker-{n}.log" for n in range(count)]
    try:
        for log in logs:
            with log.open("w") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--limit", "1"],
                        env=env,
                        cwd=REPO,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield logs
    finally:
        for proc in procs:
            _stop_group(proc)


def flow_state(server: PrefectServer, flow_run_id: str) -> Any:
    with server.api() as client:
        return client.read_flow_run(UUID(flow_run_id)).state


def wait_state(
    server: PrefectServer, flow_run_id: str, ok: Callable[[Any], bool], what: str, timeout: float = 60
) -> Any:
    def check() -> Any:
        state = flow_state(server, flow_run_id)
        return state if state is not None and ok(state) else None

    return wait_until(check, f"flow run {flow_run_id} to be {what}", timeout=timeout)


def final_state(server: PrefectServer, flow_run_id: str, timeout: float = 60) -> Any:
    """The run's state once it has ended: completed, failed, crashed or cancelled."""
    return wait_state(server, flow_run_id, lambda s: s.is_final(), "final", timeout=timeout)


def wait_rescheduled(server: PrefectServer, flow_run_id: str, after: str = "resume") -> Any:
    """The run's state once it is Scheduled again (a resumed suspension goes back to the pool)."""
    return wait_state(server, flow_run_id, lambda s: s.type == StateType.SCHEDULED, f"rescheduled after {after}")


def task_states(server: PrefectServer, flow_run_id: str) -> dict[str, list[str]]:
    """Each step's task-run state names in the order they ran, e.g. {"get-details": ["Completed", "Cached"]}."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with server.api() as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    out: dict[str, list[str]] = {}
    for r in sorted(runs, key=lambda r: r.expected_start_time or r.created):
        out.setdefault(r.name.rsplit("-", 1)[0], []).append(r.state.name if r.state else "?")
    return out


def playbook_artifacts(server: PrefectServer, flow_run_id: str) -> list[str]:
    """Keys of the playbook artifacts of a run: one per announced failure (each also emits one alert event)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with server.api() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)]))
        )
    return [a.key for a in found if a.key and a.key.startswith("playbook-")]


# --- a webhook receiver --------------------------------------------------------------------------------


class WebhookReceiver:
    """A tiny HTTP server on loopback that keeps every body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                received.append(self.rfile.read(length).decode("utf-8", "replace"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/ac-sync-alert"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def alert_for(self, flow_run_id: str, code: str, timeout: float = 60) -> dict[str, Any]:
        """The JSON alert about this run and failure code, once it has come."""

        def find() -> dict[str, Any] | None:
            for body in list(self.bodies):
                alert = json.loads(body)
                if alert.get("flow_run_id") == flow_run_id and alert.get("code") == code:
                    return alert
            return None

        return wait_until(find, f"the {code} alert for flow run {flow_run_id}", timeout=timeout)
