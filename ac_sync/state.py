"""Sync state per destination (API host + list id): what was last confirmed in the list.

Layout under the state location (a local path or any fsspec URL, so workers on several machines can share
it):

    <location>/<host>/list-<id>/snapshot.parquet     rows as of the last compaction
    <location>/<host>/list-<id>/deltas/*.jsonl       one file per confirmed batch since then
    <location>/<host>/list-<id>/pending/<batchId>.json   batches queued by the API but not yet confirmed
    <location>/<host>/list-<id>/meta.json            e.g. the groups this tool linked the list to

A delta is written (atomically, by the filesystem's own put) the moment a batch is confirmed, so a crash
loses at most the batch in flight. Rows are `(email, fields_hash, status)` where status is `subscribed`
or `unsubscribed` (unsubscribed by this tool: the consent ledger that allows a later re-subscription).
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import fsspec
from fsspec.core import url_to_fs

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"  # by this tool: the consent ledger that allows a later re-subscription
OPTED_OUT = "opted_out"  # unsubscribed by themselves: never re-subscribed

STATE_COLUMNS = "email VARCHAR, fields_hash VARCHAR, status VARCHAR"


def destination_key(api_base_url: str, list_id: int) -> str:
    host = api_base_url.split("://", 1)[-1].split("/", 1)[0].replace(":", "_")
    return f"{host}/list-{list_id}"


class SyncState:
    def __init__(self, location: str, destination: str) -> None:
        self.fs: fsspec.AbstractFileSystem
        self.fs, root = url_to_fs(str(location))
        self.root = f"{root.rstrip('/')}/{destination}"
        self.run_tag = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        self._seq = 0

    # --- meta --------------------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def read_meta(self) -> dict[str, Any]:
        path = self._path("meta.json")
        if not self.fs.exists(path):
            return {}
        with self.fs.open(path, "r") as fh:
            return json.load(fh)

    def write_meta(self, meta: dict[str, Any]) -> None:
        self._put_bytes(self._path("meta.json"), json.dumps(meta, sort_keys=True).encode())

    def _put_bytes(self, path: str, data: bytes) -> None:
        # Write beside and move into place: a reader never sees half a file, even on a local disk.
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        with self.fs.open(tmp, "wb") as fh:
            fh.write(data)
        self.fs.mv(tmp, path)

    # --- rows --------------------------------------------------------------------------------------

    def count(self, con: duckdb.DuckDBPyConnection, status: str = SUBSCRIBED, table: str = "state") -> int:
        return con.execute(f"SELECT count(*) FROM {table} WHERE status = ?", [status]).fetchone()[0]  # type: ignore[index]

    def checkpoint(self, rows: Iterable[tuple[str, str | None, str]]) -> None:
        """Record one confirmed batch: (email, fields_hash, status) rows."""
        lines = [json.dumps({"email": e, "fields_hash": h, "status": s}) for e, h, s in rows]
        if not lines:
            return
        self._seq += 1
        name = f"{self.run_tag}-{self._seq:06d}.jsonl"
        self._put_bytes(self._path("deltas", name), ("\n".join(lines) + "\n").encode())

    # --- batches queued but not confirmed -------------------------------------------------------------

    def add_pending(self, batch_id: str, rows: list[dict[str, Any]]) -> None:
        """Remember a queued batch, so that a later run polls it instead of sending it again."""
        self._put_bytes(self._path("pending", f"{batch_id}.json"), json.dumps(rows).encode())

    def remove_pending(self, batch_id: str) -> None:
        path = self._path("pending", f"{batch_id}.json")
        if self.fs.exists(path):
            self.fs.rm(path)

    def pending(self) -> dict[str, list[dict[str, Any]]]:
        folder = self._path("pending")
        if not self.fs.exists(folder):
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        for path in sorted(self.fs.ls(folder, detail=False)):
            name = str(path).rsplit("/", 1)[-1]
            if name.endswith(".json"):
                with self.fs.open(path, "r") as fh:
                    out[name.removesuffix(".json")] = json.load(fh)
        return out

    def _delta_files(self) -> list[str]:
        deltas = self._path("deltas")
        if not self.fs.exists(deltas):
            return []
        return sorted(p for p in self.fs.ls(deltas, detail=False) if str(p).endswith(".jsonl"))

    def load_into(self, con: duckdb.DuckDBPyConnection, table: str = "state") -> int:
        """(Re)create `table` holding the latest row per email; answers its row count."""
        con.execute(f"CREATE OR REPLACE TABLE {table} ({STATE_COLUMNS}, seq BIGINT)")
        with tempfile.TemporaryDirectory(prefix="ac-sync-state-") as tmp:
            snapshot = self._path("snapshot.parquet")
            if self.fs.exists(snapshot):
                local = str(Path(tmp) / "snapshot.parquet")
                self.fs.get(snapshot, local)
                con.execute(f"INSERT INTO {table} SELECT email, fields_hash, status, 0 FROM read_parquet(?)", [local])
            for seq, path in enumerate(self._delta_files(), start=1):
                local = str(Path(tmp) / f"d{seq}.jsonl")
                self.fs.get(path, local)
                con.execute(
                    f"INSERT INTO {table} SELECT email, fields_hash, status, ? FROM read_json(?, columns="
                    "{'email': 'VARCHAR', 'fields_hash': 'VARCHAR', 'status': 'VARCHAR'}, format='newline_delimited')",
                    [seq, local],
                )
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT email, fields_hash, status FROM {table} "
            "QUALIFY row_number() OVER (PARTITION BY email ORDER BY seq DESC) = 1"
        )
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]

    def compact(self, con: duckdb.DuckDBPyConnection) -> None:
        """Fold every delta into a fresh snapshot, then drop the folded deltas."""
        deltas = self._delta_files()
        if not deltas:
            return
        self.load_into(con, "state_compact")
        with tempfile.TemporaryDirectory(prefix="ac-sync-state-") as tmp:
            local = str(Path(tmp) / "snapshot.parquet")
            con.execute(f"COPY (SELECT * FROM state_compact ORDER BY email) TO '{local}' (FORMAT parquet)")
            self._put_bytes(self._path("snapshot.parquet"), Path(local).read_bytes())
        con.execute("DROP TABLE state_compact")
        for path in deltas:
            self.fs.rm(path)
