"""`ac-sync emulator --port P` serves, and prints the base URL and the key it accepts."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ac_sync_emulator_command_serves_the_documented_shape() -> None:
    port = free_port()
    command = [sys.executable, "-m", "ac_sync.cli", "emulator", "--port", str(port), "--api-key", "k-123"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url_line, key_line = proc.stdout.readline(), proc.stdout.readline()
        base = re.search(r"emulator at (\S+)", url_line)
        assert base and base.group(1) == f"http://127.0.0.1:{port}"
        key = key_line.strip().removeprefix("API key: ")
        assert key == "k-123"
        me = httpx.get(f"{base.group(1)}/api/3/users/me", headers={"Api-Token": key})
        assert me.status_code == 200
        user = me.json()["user"]
        assert isinstance(user["id"], str) and {"username", "firstName", "lastName", "email", "links"} <= set(user)
        assert httpx.get(f"{base.group(1)}/api/3/users/me").status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)
