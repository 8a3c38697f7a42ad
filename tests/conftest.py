"""Shared fixtures: a live ActiveCampaign emulator on loopback.

One emulator serves the whole session (stopping uvicorn takes ~0.2 s); each test gets it reset to a fresh
account with the options of `emulator_config`, which a test module can override (or parametrize
indirectly) to run with other options.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from activecampaign.emulator import EmulatorConfig, EmulatorServer


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
