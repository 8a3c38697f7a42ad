"""A PostgreSQL server started on loopback for the test session (Debian's binaries), stopped at its end."""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    url: str  # the superuser's: for setting tables up
    log: Path
    reader_url: str = ""  # a role that can only read public's tables: what an audience query connects as

    def log_since(self, offset: int) -> str:
        return self.log.read_bytes()[offset:].decode(errors="replace")

    def log_size(self) -> int:
        return self.log.stat().st_size


def bin_dir() -> Path | None:
    """Debian keeps server binaries per version, off PATH; fall back to PATH for other layouts."""

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(binaries: Path) -> Iterator[Server]:
    """A fresh cluster on a free loopback port, every statement logged (a test can see how rows were fetched)."""
    # PostgreSQL refuses to run as root; as root, run it as the postgres user in a dir it owns.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="ac-sync-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    if as_postgres:
        for path in (base, sockets):
            shutil.chown(path, "postgres", "postgres")

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off -c log_statement=all"
    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE ROLE audience_reader LOGIN")
            con.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO audience_reader")
            con.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO audience_reader")
        yield Server(url=url, log=log, reader_url=f"postgresql://audience_reader@127.0.0.1:{port}/postgres")
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
