"""Serving the emulator with uvicorn: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from .app import create_app
from .config import EmulatorConfig
from .core import Emulator
from .served import Served

STARTUP_TIMEOUT_S = 10.0


def _bind(host: str, port: int) -> socket.socket:
    # Binding here (rather than letting uvicorn do it) makes port 0 usable: the port is known at once.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP, and
    # without it every keep-alive response stalls ~40 ms (Nagle against delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _uvicorn(emulator: Emulator) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(emulator=emulator),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        date_header=False,  # the app dates its answers by the account's clock (app.py)
    )
    server = uvicorn.Server(config)
    emulator.connection_lookup = _connection_lookup(server)
    return server


def _connection_lookup(server: uvicorn.Server) -> Callable[[Any], asyncio.BaseTransport | None]:
    """Find a request's connection among uvicorn's open ones, so a drop fault can cut it."""

    def lookup(client: Any) -> asyncio.BaseTransport | None:
        if client is None:
            return None
        for protocol in list(server.server_state.connections):
            if tuple(getattr(protocol, "client", None) or ()) == tuple(client):
                return getattr(protocol, "transport", None)
        return None

    return lookup


class EmulatorServer(Served):
    """The emulator on 127.0.0.1 and a free port, served from a background thread.

    with EmulatorServer(EmulatorConfig(time_scale=20)) as emu:
        httpx.get(f"{emu.base_url}/api/3/users/me", headers={"Api-Token": emu.api_key})
    """

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config)
        self.emulator = Emulator(self.config)
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        sock = _bind(self._host, self._port)
        self.base_url = _base_url(sock)
        self._server = _uvicorn(self.emulator)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="ac-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the ActiveCampaign emulator did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT_S)
        self._server = self._thread = None


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    config: EmulatorConfig | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the emulator until interrupted; `on_ready` gets the base URL once the port is bound."""
    emulator = Emulator(config)
    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(_base_url(sock))
    _uvicorn(emulator).run(sockets=[sock])
