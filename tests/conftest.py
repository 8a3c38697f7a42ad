"""Shared fixtures: a live ActiveCampaign emulator on loopback.

One emulator serves the whole session (stopping uvicorn takes ~0.2 s); each test gets it reset to a fresh
account with the options of `emulator_config`, which a test module can override (or parametrize
indirectly) to run with other options.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from ac_sync.activecampaign.emulator import EmulatorConfig, EmulatorProcess, EmulatorServer
from ac_sync.engine import progress
from tests.postgres_server import Server, bin_dir, postgres_server
from tests.syncing import Admin, PauseWatch

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig()


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(_emulator_server: EmulatorServer, emulator_config: EmulatorConfig) -> EmulatorServer:
    """The emulator, reset: a fresh account, no faults, an empty request log, these options."""
    with httpx.Client(base_url=f"{_emulator_server.base_url}/__emulator__") as admin:
        admin.post("/config", json=emulator_config.to_dict()).raise_for_status()
        admin.post("/reset").raise_for_status()
    return _emulator_server


@pytest.fixture
def emulator_api(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A client for /api/3 that sends the emulator's key."""
    with httpx.Client(base_url=emulator.api_url, headers={"Api-Token": emulator.api_key}) as client:
        yield client


@pytest.fixture
def emulator_admin(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A client for the emulator's admin endpoints (/__emulator__/...)."""
    with httpx.Client(base_url=f"{emulator.base_url}/__emulator__") as client:
        yield client


# --- the sync flow: a Prefect backend and an emulator in its own process --------------------------------


@pytest.fixture(scope="session")
def prefect_backend() -> Iterator[None]:
    """One throwaway Prefect database for the session (each harness costs ~7 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture(scope="session")
def _emulator_process() -> Iterator[EmulatorProcess]:
    # A child process: the flow's own work must not skew the emulator's clock through the GIL.
    with EmulatorProcess(EmulatorConfig(time_scale=10)) as proc:
        yield proc


@pytest.fixture
def sync_env(
    _emulator_process: EmulatorProcess, prefect_backend: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> EmulatorProcess:
    """A reset emulator (time-scale 10) and the environment a sync run reads its settings from."""
    with httpx.Client(base_url=f"{_emulator_process.base_url}/__emulator__") as admin:
        admin.post("/config", json={**EmulatorConfig(time_scale=10).to_dict()}).raise_for_status()
        admin.post("/reset").raise_for_status()
    monkeypatch.setenv("AC_SYNC_API_URL", _emulator_process.base_url)
    monkeypatch.setenv("AC_SYNC_API_KEY", _emulator_process.api_key)
    monkeypatch.setenv("AC_SYNC_TIME_SCALE", "10")
    monkeypatch.setenv("AC_SYNC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("AC_SYNC_VERBOSE_LOG_PATH", str(tmp_path / "rejected.csv"))
    monkeypatch.chdir(tmp_path)
    return _emulator_process


@pytest.fixture
def slow_upload(sync_env: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> Admin:
    """The emulator at time-scale 2: slow enough that a signal lands mid-upload."""
    admin = Admin(sync_env.base_url)
    admin.post("/config", {"time_scale": 2})
    monkeypatch.setenv("AC_SYNC_TIME_SCALE", "2")
    return admin


@pytest.fixture
def admin(sync_env: EmulatorProcess) -> Iterator[Admin]:
    """The admin side of sync_env's emulator: its state, request log, faults and options."""
    client = Admin(sync_env.base_url)
    yield client
    client.http.close()


@pytest.fixture
async def pauses() -> AsyncIterator[PauseWatch]:
    """Catches a run's Paused notices in this process."""
    watch = PauseWatch()
    unsubscribe = progress.subscribe(watch)
    yield watch
    unsubscribe()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """A PostgreSQL server on loopback for the session (skipped where Debian's postgresql is not installed)."""
    binaries = bin_dir()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    with postgres_server(binaries) as server:
        yield server
