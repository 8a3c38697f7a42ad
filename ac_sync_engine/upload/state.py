"""Sync state per destination (API host + list id): what was last confirmed in the list.

Layout under the state location (a local path or any fsspec URL, so workers on several machines can share
it):

    <location>/<host>/list-<id>/snapshot.parquet     rows as of the last compaction
    <location>/<host>/list-<id>/deltas/*.jsonl       one file per confirmed batch since then
    <location>/<host>/list-<id>/pending/<batchId>.json   batches queued by the API but not yet confirmed
    <location>/<host>/list-<id>/meta.json            e.g. the groups this tool linked the list to

A delta is written (atomically, by the filesystem's own put) the moment a batch is confirmed, so a crash
loses at most the batch in flight. Rows are `(email, fields_hash, status, sent)`: status is `subscribed`,
`unsubscribed` (by this tool: the consent ledger that allows a later re-subscription) or `opted_out`;
fields_hash is the hash of the audience row last written (upload.rows.PARTIAL while contact-API work on it is
still to do); `sent` is what the list holds for the contact as far as this tool knows (JSON of the values it
sent, tags included), so that a cell that became empty, a tag to take off or a new hash form can be decided
per field. A v1 state has no `sent` (NULL): the planner recognises its rows by the v1 hash instead.

The snapshot holds one row per email. Loading it is a view over the file, not a copy (10 M rows would
otherwise be rewritten into the run's database every run), and the deltas are folded in only when they
have grown large enough to be worth rewriting the snapshot for.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from ac_sync_engine.sql import drop_relation, sql_literal

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"  # by this tool: the consent ledger that allows a later re-subscription
OPTED_OUT = "opted_out"  # unsubscribed by themselves: never re-subscribed

STATE_COLUMNS = "email VARCHAR, fields_hash VARCHAR, status VARCHAR, sent VARCHAR"
_DELTA_COLUMNS = "{'email': 'VARCHAR', 'fields_hash': 'VARCHAR', 'status': 'VARCHAR', 'sent': 'VARCHAR'}"
_ROW = "email, fields_hash, status, sent"
StateRow = tuple[str, str | None, str, str | None]  # (email, fields_hash, status, sent)
# Compacting rewrites the whole snapshot; it pays once the deltas hold this share of its rows, or once
# there are so many delta files that listing and reading them dominates loading.
COMPACT_MIN_FRACTION = 0.10
COMPACT_MAX_FILES = 2_000


# ActiveCampaign's own hosts: <account>.api-us1.com (the API URL) and <account>.activehosted.com (the app) are
# one account; the state of its lists is kept under the account's name, whatever the URL's case or form.
_ACCOUNT_HOST = re.compile(r"(?P<account>[a-z0-9-]+)\.(?:api-[a-z]+[0-9]*\.com|activehosted\.com)")


def account_key(api_base_url: str) -> str:
    """The account's stable name in the state's layout: `ac-<account>` for ActiveCampaign's hosts, else the host
    (and port) lower-cased."""
    netloc = api_base_url.split("://", 1)[-1].split("/", 1)[0].lower()
    host = netloc.rsplit("@", 1)[-1]
    match = _ACCOUNT_HOST.fullmatch(host.split(":", 1)[0])
    return f"ac-{match.group('account')}" if match else host.replace(":", "_")


def destination_key(api_base_url: str, list_id: int) -> str:
    return f"{account_key(api_base_url)}/list-{list_id}"


def _stamp(info: dict[str, Any]) -> float:
    """A file's modification time from an fsspec listing (local disks and object stores name it differently)."""
    for key in ("mtime", "LastModified", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
    return 0.0


def _legacy_key(folder: str) -> str:
    """What account a folder of an older layout (the host as typed, ':' as '_') stands for."""
    return account_key("https://" + folder.replace("_", ":", 1) if folder.count("_") == 1 else "https://" + folder)


def open_state(location: str, api_base_url: str, list_id: int) -> SyncState:
    """The list's sync state, moved into place from an older layout's folder for the same account if need be
    (a state kept under `ACME.api-us1.com` or `acme.activehosted.com` is the same account's: no re-send)."""
    state = SyncState(location, destination_key(api_base_url, list_id))
    if not state.fs.exists(state.root):
        state.adopt_legacy(account_key(api_base_url), f"list-{list_id}")
    return state


class SyncState:
    def __init__(self, location: str, destination: str) -> None:
        self.fs: fsspec.AbstractFileSystem
        self.fs, root = url_to_fs(str(location))
        self.root = f"{root.rstrip('/')}/{destination}"
        self.run_tag = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        self._seq = 0

    def adopt_legacy(self, account: str, list_folder: str) -> str | None:
        """Move the most recently written folder of this list under an older account key into place."""
        base = self.root.rsplit("/", 2)[0]
        if not self.fs.exists(base):
            return None
        found = []
        for folder in self.fs.ls(base, detail=False):
            name = str(folder).rstrip("/").rsplit("/", 1)[-1]
            candidate = f"{str(folder).rstrip('/')}/{list_folder}"
            if name != account and _legacy_key(name) == account and self.fs.exists(candidate):
                found.append((self._last_written(candidate), candidate))
        if not found:
            return None
        _, source = max(found)
        self.fs.makedirs(self.root.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(source, self.root, recursive=True)
        return source

    def _last_written(self, folder: str) -> float:
        return max((_stamp(info) for info in self.fs.find(folder, detail=True).values()), default=0.0)

    def set_aside(self, why: str) -> str | None:
        """Move this list's state out of the way (a list this run created starts empty); answers where to."""
        if not self.fs.exists(self.root):
            return None
        target = f"{self.root}.{why}-{self.run_tag}"
        self.fs.mv(self.root, target, recursive=True)
        return target

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

    def checkpoint(self, rows: Iterable[StateRow]) -> None:
        """Record one confirmed batch: (email, fields_hash, status, sent) rows."""
        lines = [json.dumps({"email": e, "fields_hash": h, "status": s, "sent": v}) for e, h, s, v in rows]
        if not lines:
            return
        self._put_bytes(self._next_delta(), ("\n".join(lines) + "\n").encode())

    def checkpoint_query(self, con: duckdb.DuckDBPyConnection, select: str) -> int:
        """Record the rows of `select` (columns email, fields_hash, status, sent) as one delta; answers how many.

        For state-only changes of many rows at once (a migrated hash form), written by DuckDB, not Python.
        """
        with tempfile.TemporaryDirectory(prefix="ac-sync-state-") as tmp:
            local = str(Path(tmp) / "delta.jsonl")
            row = con.execute(f"COPY ({select}) TO {sql_literal(local)} (FORMAT json)").fetchone()
            count = int(row[0]) if row else 0
            if count:
                self._put_file(self._next_delta(), local)
        return count

    def _next_delta(self) -> str:
        self._seq += 1
        return self._path("deltas", f"{self.run_tag}-{self._seq:06d}.jsonl")

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

    def is_empty(self) -> bool:
        """Nothing recorded yet for this destination: no snapshot, no delta, no batch pending."""
        if self.fs.exists(self._path("snapshot.parquet")) or self._delta_files():
            return False
        folder = self._path("pending")
        return not (self.fs.exists(folder) and any(str(p).endswith(".json") for p in self.fs.ls(folder, detail=False)))

    def _local(self, path: str, name: str) -> str:
        """A path DuckDB can read for `path`: itself on a local disk, else a download kept for this object."""
        if isinstance(self.fs, LocalFileSystem):
            return str(path)
        if not hasattr(self, "_downloads"):
            self._downloads = tempfile.TemporaryDirectory(prefix="ac-sync-state-")
        local = str(Path(self._downloads.name) / name)
        self.fs.get(path, local)
        return local

    def load_into(self, con: duckdb.DuckDBPyConnection, table: str = "state") -> int:
        """(Re)create `table`, a view holding the latest row per email; answers its row count.

        The snapshot is read where it lies (or from a download, for a remote location); only the deltas,
        which are small, are copied into a table (`<table>_deltas`) to pick the latest row per email.
        """
        drop_relation(con, table)
        drop_relation(con, f"{table}_deltas")
        snapshot = self._path("snapshot.parquet")
        parts = []
        snapshot_rows = 0
        if self.fs.exists(snapshot):
            local = self._local(snapshot, f"snapshot-{uuid.uuid4().hex[:8]}.parquet")
            parts.append(f"SELECT {self._snapshot_columns(con, local)} FROM read_parquet({sql_literal(local)})")
            snapshot_rows = con.execute("SELECT count(*) FROM read_parquet(?)", [local]).fetchone()[0]  # type: ignore[index]
        deltas = self._delta_files()
        if deltas:
            files = [self._local(path, f"d{seq:08d}.jsonl") for seq, path in enumerate(deltas, start=1)]
            # One scan over every file; the file's place in the (time-ordered) listing says which row is latest.
            order = {f: seq for seq, f in enumerate(files, start=1)}
            con.execute(
                f"""
                CREATE TABLE main.{table}_deltas AS
                SELECT {_ROW} FROM (
                    SELECT d.*, o.seq FROM read_json(?, columns={_DELTA_COLUMNS}, format='newline_delimited',
                                                     filename=true) d
                    JOIN (SELECT unnest(?) AS filename, unnest(?) AS seq) o USING (filename)
                ) QUALIFY row_number() OVER (PARTITION BY email ORDER BY seq DESC) = 1""",
                [files, list(order), list(order.values())],
            )
            if parts:
                parts[0] += f" WHERE email NOT IN (SELECT email FROM main.{table}_deltas)"
            parts.append(f"SELECT {_ROW} FROM main.{table}_deltas")
        if not parts:
            parts.append(
                "SELECT NULL::VARCHAR AS email, NULL::VARCHAR AS fields_hash, NULL::VARCHAR AS status,"
                " NULL::VARCHAR AS sent LIMIT 0"
            )
        con.execute(f"CREATE VIEW main.{table} AS {' UNION ALL '.join(parts)}")
        if not deltas:
            return int(snapshot_rows)
        return con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]  # type: ignore[index]

    @staticmethod
    def _snapshot_columns(con: duckdb.DuckDBPyConnection, local: str) -> str:
        # A snapshot written before the state kept what was sent has no `sent` column.
        names = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [local]).fetchall()}
        return _ROW if "sent" in names else "email, fields_hash, status, NULL::VARCHAR AS sent"

    def compact(self, con: duckdb.DuckDBPyConnection, *, force: bool = False) -> bool:
        """Fold the deltas into a fresh snapshot, then drop the folded deltas; answers whether it did.

        Unless `force`d, only once the deltas are worth it (COMPACT_MIN_FRACTION of the snapshot's rows, or
        COMPACT_MAX_FILES files): rewriting a 10 M-row snapshot after every run costs more than reading
        the deltas does.
        """
        deltas = self._delta_files()
        if not deltas:
            return False
        snapshot = self._path("snapshot.parquet")
        if not force and self.fs.exists(snapshot) and len(deltas) < COMPACT_MAX_FILES:
            snapshot_rows = con.execute(
                "SELECT count(*) FROM read_parquet(?)", [self._local(snapshot, "compact-check.parquet")]
            ).fetchone()[0]  # type: ignore[index]
            delta_rows = sum(self._count_lines(path) for path in deltas)
            if delta_rows < COMPACT_MIN_FRACTION * snapshot_rows:
                return False
        view = f"state_compact_{uuid.uuid4().hex[:8]}"
        self.load_into(con, view)
        try:
            with tempfile.TemporaryDirectory(prefix="ac-sync-state-") as tmp:
                local = str(Path(tmp) / "snapshot.parquet")
                con.execute(f"COPY (SELECT * FROM main.{view}) TO {sql_literal(local)} (FORMAT parquet)")
                self._put_file(snapshot, local)
        finally:
            drop_relation(con, view)
            drop_relation(con, f"{view}_deltas")
        for path in deltas:
            self.fs.rm(path)
        return True

    def _count_lines(self, path: str) -> int:
        with self.fs.open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))

    def _put_file(self, path: str, local: str) -> None:
        # As _put_bytes, without holding the whole file in memory.
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.put_file(local, tmp)
        try:
            self.fs.mv(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm(tmp)
            raise

