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

Each file is checked as it is read (upload.state_checks): a delta's torn last line is dropped with a warning, any
other damage is one StateError naming the file, what it held and the command that rebuilds the state
(upload.rebuild). Where a state can live and how an object store is configured: upload.stores.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import fsspec

from ac_sync.engine.errors import StateError, StateWriteError, one_line
from ac_sync.engine.sql import drop_relation, sql_literal
from ac_sync.engine.upload import state_checks as checks
from ac_sync.engine.upload.stores import is_local, is_object_store, open_location, shown

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"  # by this tool: the consent ledger that allows a later re-subscription
OPTED_OUT = "opted_out"  # unsubscribed by themselves: never re-subscribed

STATE_COLUMNS = "email VARCHAR, fields_hash VARCHAR, status VARCHAR, sent VARCHAR"
DELTA_COLUMNS = "{'email': 'VARCHAR', 'fields_hash': 'VARCHAR', 'status': 'VARCHAR', 'sent': 'VARCHAR'}"
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
    """One list's sync state. `list_name`/`group_name` (optional) name the list in the rebuild command a damage
    message gives; `guard`, when set (a ListLock sets it), is called before every write and raises once this run
    no longer holds the list; `recovered` lists the warnings about torn deltas this object has read past."""

    def __init__(self, location: str, destination: str) -> None:
        self.fs: fsspec.AbstractFileSystem
        self.fs, root = open_location(str(location))
        self.root = f"{root.rstrip('/')}/{destination}"
        self.run_tag = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self.log: logging.Logger | logging.LoggerAdapter[Any] = logging.getLogger(__name__)
        self.list_name: str | None = None
        self.group_name: str | None = None
        self.guard: Callable[[], None] | None = None
        self.recovered: list[str] = []

    def shown(self, path: str | None = None) -> str:
        """A path of this state (its folder by default) as the user would type it."""
        return shown(self.fs, path or self.root)

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
        self._move_tree(source, self.root)
        return source

    def _last_written(self, folder: str) -> float:
        return max((_stamp(info) for info in self.fs.find(folder, detail=True).values()), default=0.0)

    def set_aside(self, why: str) -> str | None:
        """Move this list's state out of the way (a list this run created starts empty); answers where to."""
        if not self.fs.exists(self.root):
            return None
        target = f"{self.root}.{why}-{self.run_tag}"
        self._move_tree(self.root, target)
        return target

    def _move_tree(self, source: str, target: str) -> None:
        """Move a folder: one rename on a disk; on an object store, where a folder is a key prefix, each object."""
        self._guarded()
        if not is_object_store(self.fs):
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(source, target, recursive=True)
            return
        source = source.rstrip("/")
        files = sorted(self.fs.find(source))
        # Copy everything before deleting anything: a move cut off half way leaves both copies, never neither.
        for path in files:
            self.fs.copy(path, f"{target}{path[len(source) :]}")
        if files:
            self.fs.rm(files)
        self.fs.invalidate_cache(source)

    def _guarded(self) -> None:
        if self.guard is not None:
            self.guard()

    def rebuild_command(self) -> str:
        """The command that rebuilds this state from the list's membership."""
        list_name = self.list_name
        if list_name is None:
            with contextlib.suppress(StateError, OSError):
                list_name = self.read_meta().get("list_name")
        return checks.rebuild_command(list_name, self.group_name)

    def _damaged(self, path: str, why: str, lost: str) -> StateError:
        return checks.damaged(self.shown(path), why, lost, self.rebuild_command())

    # --- meta --------------------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def read_meta(self) -> dict[str, Any]:
        path = self._path("meta.json")
        if not self.fs.exists(path):
            return {}
        try:
            return checks.parse_meta(self.fs.cat_file(path))
        except ValueError as exc:
            # Not self._damaged: its rebuild command reads the list's name from this very file.
            command = checks.rebuild_command(self.list_name, self.group_name)
            lost = "the list's record (its name and stringid, the groups it was linked to) cannot be read"
            raise checks.damaged(self.shown(path), str(exc), lost, command) from None

    def write_meta(self, meta: dict[str, Any]) -> None:
        self._put_bytes(
            self._path("meta.json"),
            json.dumps(meta, sort_keys=True).encode(),
            "the list's record was not updated; the next run writes it again",
        )

    def _put_bytes(self, path: str, data: bytes, unwritten: str) -> None:
        """Write beside and move into place: a reader never sees half a file, even on a local disk. `unwritten`
        says what is lost if it cannot be written, and what the next run does instead."""
        self._guarded()
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with self.fs.open(tmp, "wb") as fh:
                fh.write(data)
            self.fs.mv(tmp, path)
        except OSError as exc:
            raise self._unwritable(path, tmp, exc, unwritten) from None

    def _unwritable(self, path: str, tmp: str, exc: OSError, unwritten: str) -> StateWriteError:
        with contextlib.suppress(OSError):
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        why = exc.strerror or one_line(exc)
        return StateWriteError(f"cannot write the sync state's {self.shown(path)}: {why}; {unwritten}")

    # --- rows --------------------------------------------------------------------------------------

    def count(self, con: duckdb.DuckDBPyConnection, status: str = SUBSCRIBED, table: str = "state") -> int:
        return con.execute(f"SELECT count(*) FROM {table} WHERE status = ?", [status]).fetchone()[0]  # type: ignore[index]

    def checkpoint(self, rows: Iterable[StateRow]) -> None:
        """Record one confirmed batch: (email, fields_hash, status, sent) rows."""
        lines = [json.dumps({"email": e, "fields_hash": h, "status": s, "sent": v}) for e, h, s, v in rows]
        if not lines:
            return
        self._put_bytes(
            self._next_delta(),
            ("\n".join(lines) + "\n").encode(),
            f"{len(lines)} contacts ActiveCampaign confirmed are not recorded; the next run compares them with the"
            " list again and sends only what differs (earlier batches stay recorded)",
        )

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
        self._put_bytes(
            self._path("pending", f"{batch_id}.json"),
            json.dumps(rows).encode(),
            f"batch {batch_id}, queued by ActiveCampaign, is not recorded as pending; the next run sends its"
            f" {len(rows)} contacts again (a bulk import only adds or updates them)",
        )

    def remove_pending(self, batch_id: str) -> None:
        path = self._path("pending", f"{batch_id}.json")
        if self.fs.exists(path):
            self._guarded()
            self.fs.rm(path)

    def _pending_files(self) -> list[str]:
        folder = self._path("pending")
        if not self.fs.exists(folder):
            return []
        return sorted(str(p) for p in self.fs.ls(folder, detail=False) if str(p).endswith(".json"))

    def pending(self) -> dict[str, list[dict[str, Any]]]:
        """Every batch queued and not confirmed: batchId -> its rows; raises StateError for a damaged record."""
        out: dict[str, list[dict[str, Any]]] = {}
        for path in self._pending_files():
            batch_id = path.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                out[batch_id] = checks.parse_pending(self.fs.cat_file(path))
            except ValueError as exc:
                lost = (
                    f"batch {batch_id}, which ActiveCampaign queued and no run confirmed, cannot be confirmed (which"
                    " contacts it holds is unknown)"
                )
                raise self._damaged(path, str(exc), lost) from None
        return out

    def _delta_files(self) -> list[str]:
        deltas = self._path("deltas")
        if not self.fs.exists(deltas):
            return []
        return sorted(p for p in self.fs.ls(deltas, detail=False) if str(p).endswith(".jsonl"))

    def is_empty(self) -> bool:
        """Nothing recorded yet for this destination: no snapshot, no delta, no batch pending.

        Checks what it finds on the way (the snapshot's first and last bytes, each pending record): a damaged
        state is a StateError here, before the run decides it is a first sync.
        """
        snapshot = self._path("snapshot.parquet")
        if self.fs.exists(snapshot):
            size = self.fs.size(snapshot)
            head = self.fs.cat_file(snapshot, start=0, end=4) if size else b""
            tail = self.fs.cat_file(snapshot, start=max(0, size - 4)) if size else b""
            problem = checks.parquet_problem(head, tail, size)
            if problem:
                raise self._snapshot_lost(snapshot, problem)
            return False
        if self._delta_files():
            return False
        return not self.pending()

    def _snapshot_lost(self, path: str, why: str) -> StateError:
        try:
            held = self.read_meta().get("snapshot_rows")
        except StateError:
            held = None
        what = f"the snapshot of {held:,} contacts" if isinstance(held, int) else "the snapshot"
        deltas = self._delta_files()
        rows = sum(self._count_lines(p) for p in deltas)
        since = "the delta since holds" if len(deltas) == 1 else f"the {len(deltas):,} deltas since hold"
        return self._damaged(path, why, f"{what} cannot be read; {since} {rows:,} rows")

    def _local(self, path: str, name: str) -> str:
        """A path DuckDB can read for `path`: itself on a local disk, else a download kept for this object."""
        if is_local(self.fs):
            return str(path)
        local = str(Path(self._scratch()) / name)
        self.fs.get(path, local)
        return local

    def _scratch(self) -> str:
        if not hasattr(self, "_downloads"):
            self._downloads = tempfile.TemporaryDirectory(prefix="ac-sync-state-")
        return self._downloads.name

    def _snapshot(self, con: duckdb.DuckDBPyConnection, path: str, name: str) -> tuple[str, str, int]:
        """(local path, its columns as the state's, rows) of the snapshot; raises StateError when it is damaged."""
        local = self._local(path, name)
        try:
            has_sent, rows = checks.describe_snapshot(con, local)
        except ValueError as exc:
            raise self._snapshot_lost(path, str(exc)) from None
        # A snapshot written before the state kept what was sent has no `sent` column.
        return local, _ROW if has_sent else "email, fields_hash, status, NULL::VARCHAR AS sent", rows

    def _readable_deltas(self, deltas: list[str]) -> list[tuple[str, str]]:
        """(state path, local path) of each delta to read; a torn last line is cut off a local copy, with a
        warning, and a delta torn before its first whole line is left out."""
        out = []
        for seq, path in enumerate(deltas, start=1):
            local = self._local(path, f"d{seq:08d}.jsonl")
            torn = checks.torn_tail(local)
            if isinstance(torn, str):
                with open(local, "rb") as fh:
                    raise self._damaged(path, torn, checks.delta_lost(checks.count_lines(fh)))
            if torn is not None:
                self._warn_torn(path, torn.complete)
                if not torn.complete:
                    continue
                trimmed = str(Path(self._scratch()) / f"t{seq:08d}.jsonl")
                with open(local, "rb") as src, open(trimmed, "wb") as dst:
                    dst.write(src.read(torn.keep))
                local = trimmed
            out.append((path, local))
        return out

    def _warn_torn(self, path: str, complete: int) -> None:
        message = (
            f"the sync state file {self.shown(path)} ends in a line cut off mid-write (the batch in flight when a run"
            f" stopped): its {complete:,} complete rows are kept and the torn one dropped, so that contact is"
            " compared again and sent if it differs"
        )
        if message not in self.recovered:
            self.recovered.append(message)
            self.log.warning("%s", message)

    def _delta_damage(self, files: list[tuple[str, str]], exc: BaseException | None) -> StateError:
        for path, local in files:
            bad = checks.first_bad_line(local)
            if bad:
                line, lines, problem = bad
                return self._damaged(path, f"line {line:,} {problem}", checks.delta_lost(lines))
        why = f"cannot be read ({one_line(exc)})" if exc is not None else "hold rows that are no state rows"
        return self._damaged(self._path("deltas"), why, "the confirmed batches since the snapshot cannot be read")

    def load_into(self, con: duckdb.DuckDBPyConnection, table: str = "state") -> int:
        """(Re)create `table`, a view holding the latest row per email; answers its row count.

        The snapshot is read where it lies (or from a download, for a remote location); only the deltas,
        which are small, are copied into a table (`<table>_deltas`) to pick the latest row per email. Raises
        StateError, naming the file, for a damaged one (a delta's torn last line is dropped with a warning).
        """
        drop_relation(con, table)
        drop_relation(con, f"{table}_deltas")
        snapshot = self._path("snapshot.parquet")
        parts = []
        snapshot_rows = 0
        if self.fs.exists(snapshot):
            local, columns, snapshot_rows = self._snapshot(con, snapshot, f"snapshot-{uuid.uuid4().hex[:8]}.parquet")
            parts.append(f"SELECT {columns} FROM read_parquet({sql_literal(local)})")
        deltas = self._readable_deltas(self._delta_files())
        if deltas:
            files = [local for _, local in deltas]
            # One scan over every file; the file's place in the (time-ordered) listing says which row is latest.
            order = {f: seq for seq, f in enumerate(files, start=1)}
            try:
                con.execute(
                    f"""
                    CREATE TABLE main.{table}_deltas AS
                    SELECT {_ROW} FROM (
                        SELECT d.*, o.seq FROM read_json(?, columns={DELTA_COLUMNS}, format='newline_delimited',
                                                         filename=true) d
                        JOIN (SELECT unnest(?) AS filename, unnest(?) AS seq) o USING (filename)
                    ) QUALIFY row_number() OVER (PARTITION BY email ORDER BY seq DESC) = 1""",
                    [files, list(order), list(order.values())],
                )
            except duckdb.Error as exc:
                raise self._delta_damage(deltas, exc) from None
            statuses = ", ".join(f"'{s}'" for s in checks.STATUSES)
            bad = con.execute(
                f"SELECT count(*) FROM main.{table}_deltas WHERE email IS NULL OR status IS NULL"
                f" OR status NOT IN ({statuses})"
            ).fetchone()
            if bad and bad[0]:
                drop_relation(con, f"{table}_deltas")
                raise self._delta_damage(deltas, None)
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

    def compact(self, con: duckdb.DuckDBPyConnection, *, force: bool = False) -> bool:
        """Fold the deltas into a fresh snapshot, then drop the folded deltas; answers whether it did.

        Unless `force`d, only once the deltas are worth it (COMPACT_MIN_FRACTION of the snapshot's rows, or
        COMPACT_MAX_FILES files): rewriting a 10 M-row snapshot after every run costs more than reading
        the deltas does. A state with a torn delta is folded at once, so the torn line is gone for good. The
        snapshot's row count goes into meta.json, so that a damaged snapshot can later say what it held.
        """
        deltas = self._delta_files()
        if not deltas:
            return False
        snapshot = self._path("snapshot.parquet")
        if not (force or self.recovered) and self.fs.exists(snapshot) and len(deltas) < COMPACT_MAX_FILES:
            _, _, snapshot_rows = self._snapshot(con, snapshot, "compact-check.parquet")
            delta_rows = sum(self._count_lines(path) for path in deltas)
            if delta_rows < COMPACT_MIN_FRACTION * snapshot_rows:
                return False
        view = f"state_compact_{uuid.uuid4().hex[:8]}"
        rows = self.load_into(con, view)
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
        self.write_meta({**self.read_meta(), "snapshot_rows": rows})
        return True

    def _count_lines(self, path: str) -> int:
        with self.fs.open(path, "rb") as fh:
            return checks.count_lines(fh)

    def _put_file(self, path: str, local: str) -> None:
        # As _put_bytes, without holding the whole file in memory.
        self._guarded()
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(local, tmp)
            self.fs.mv(tmp, path)
        except OSError as exc:
            raise self._unwritable(path, tmp, exc, "the next run writes it again") from None
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm(tmp)
            raise
