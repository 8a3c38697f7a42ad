"""Where the state lives: locations checked before any write, and the state on an S3-compatible store (moto)."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
import s3fs

from ac_sync.engine.errors import ConfigError, StateError, SyncInputError
from ac_sync.engine.upload.state import OPTED_OUT, SUBSCRIBED, SyncState, open_state
from ac_sync.engine.upload.stores import check_location, check_output_file
from tests.engine.upload.conftest import S3

# fsspec's registry of imported drivers (`fsspec.registry` is its read-only view, shadowing the module).
FSSPEC_REGISTRY = importlib.import_module("fsspec.registry")._registry

# --- local locations -----------------------------------------------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="ac-sync-ro-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


def checked_as_nobody(checks: list[tuple[Callable[[str], None], str]]) -> list[str]:
    """Each check's outcome, run as an unprivileged user: root writes into read-only folders regardless. A forked
    child drops to `nobody` (an exec'd one could not reach this Python under /root)."""

    def outcomes() -> list[str]:
        out = []
        for check, path in checks:
            try:
                check(path)
                out.append("no error")
            except SyncInputError as exc:
                out.append(f"{type(exc).__name__} {exc}")
        return out

    if os.geteuid() != 0:
        return outcomes()
    reader, writer = multiprocessing.get_context("fork").Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, check, report, leave without running pytest's exit handlers
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            writer.send(outcomes())
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return reader.recv()


def test_a_new_local_folder_is_made_and_left_clean(tmp_path: Path) -> None:
    location = tmp_path / "a" / "b" / "state"
    check_location(str(location))
    assert location.is_dir() and list(location.iterdir()) == []


def test_a_file_is_no_state_location(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(StateError, match=r"^the state location .*/state is a file, not a folder"):
        check_location(str(tmp_path / "state"))
    with pytest.raises(StateError, match=r"cannot be made: .*/state is a file, not a folder"):
        check_location(str(tmp_path / "state" / "inner"))


def test_a_read_only_folder_is_reported_before_any_write(shared_tmp: Path) -> None:
    folder = shared_tmp / "state"
    folder.mkdir()
    folder.chmod(0o555)
    out = shared_tmp / "logs"
    out.mkdir()
    out.chmod(0o555)
    lines = checked_as_nobody(
        [(check_location, str(folder)), (check_location, str(folder / "sub")), (check_output_file, str(out / "r.csv"))]
    )
    assert lines == [
        f"StateError the state location {folder} is not writable (PermissionError: Permission denied)",
        f"StateError the state location {folder / 'sub'} is not writable (PermissionError: Permission denied)",
        f"ConfigError the rejected-rows file {out / 'r.csv'} cannot be written (PermissionError: Permission denied)",
    ]
    assert list(folder.iterdir()) == [] and list(out.iterdir()) == []


def test_the_rejected_rows_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a folder: give a file path"):
        check_output_file(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot be made: .*/file is a file, not a folder"):
        check_output_file(tmp_path / "file" / "rejected.csv")
    check_output_file(tmp_path / "new" / "rejected.csv")  # its folder is made, as the writer would
    assert list((tmp_path / "new").iterdir()) == []
    (tmp_path / "old.csv").write_text("kept")
    check_output_file(tmp_path / "old.csv")
    assert (tmp_path / "old.csv").read_text() == "kept"


# --- schemes and drivers -------------------------------------------------------------------------------------


def test_an_unknown_scheme_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^the state location nosuch://b/x has an unknown scheme nosuch://"):
        check_location("nosuch://b/x")
    with pytest.raises(ConfigError, match="unknown scheme"):
        SyncState("nosuch://b/x", "h/list-1")


@pytest.mark.parametrize(
    ("location", "module", "extra"),
    [("s3://bucket/state", "s3fs", "s3"), ("gs://bucket/state", "gcsfs", "gcs"), ("az://c/state", "adlfs", "azure")],
)
def test_a_missing_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, location: str, module: str, extra: str
) -> None:
    protocol = location.split(":", 1)[0]
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it fails
    monkeypatch.delitem(FSSPEC_REGISTRY, protocol, raising=False)
    message = f"{protocol}:// needs `pip install 'activecampaign-audience-sync[{extra}]'`"
    with pytest.raises(ConfigError, match=r"^" + message.replace("[", r"\[").replace("]", r"\]")):
        check_location(location)
    with pytest.raises(ConfigError, match="needs `pip install"):
        open_state(location, "https://acme.api-us1.com", 7)


def test_a_driver_without_an_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ossfs", None)
    monkeypatch.delitem(FSSPEC_REGISTRY, "oss", raising=False)
    with pytest.raises(ConfigError, match=r"^oss:// needs its fsspec driver .*: Install ossfs"):
        check_location("oss://bucket/state")


@pytest.mark.parametrize(
    ("value", "why"), [("{not json", "is not JSON"), ('["endpoint_url"]', "must be a JSON object")]
)
def test_bad_storage_options_are_one_line(monkeypatch: pytest.MonkeyPatch, value: str, why: str) -> None:
    monkeypatch.setenv("AC_SYNC_STATE_OPTIONS", value)
    with pytest.raises(ConfigError, match=f"^AC_SYNC_STATE_OPTIONS {why}"):
        check_location("s3://bucket/state")


# --- the state on S3 -------------------------------------------------------------------------------------------


def store(s3: S3) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(skip_instance_cache=True, **s3.options)  # type: ignore[arg-type]


def test_an_s3_location_is_checked(s3: S3, bucket: str) -> None:
    check_location(f"{bucket}/state")
    assert store(s3).find(bucket) == []  # the probe is gone, and no folder marker was left
    with pytest.raises(
        StateError,
        match=r"^the state location s3://no-such-bucket-x/state cannot be written: "
        r"FileNotFoundError.*does the bucket or container exist",
    ):
        check_location("s3://no-such-bucket-x/state")
    store(s3).pipe_file(f"{bucket}/afile", b"x")
    with pytest.raises(StateError, match="is a file, not a folder"):
        check_location(f"{bucket}/afile")


def test_the_state_round_trip_on_s3(s3: S3, bucket: str) -> None:
    location = f"{bucket}/state"
    state = open_state(location, "https://acme.api-us1.com", 7)
    assert state.is_empty()
    assert state.shown() == f"{bucket}/state/ac-acme/list-7"
    state.write_meta({"list_name": "VIP", "stringid": "vip-1"})
    state.checkpoint([(f"p{i}@example.com", f"h{i}", SUBSCRIBED, None) for i in range(30)])
    state.checkpoint([("p3@example.com", "h3b", SUBSCRIBED, '{"first_name": "Ann"}')])
    state.add_pending("501", [{"email": "q@example.com", "fields_hash": "h", "action": "subscribe", "source_row": 2}])
    con = duckdb.connect()
    assert state.load_into(con) == 30 and not state.is_empty()
    assert con.execute("SELECT fields_hash, sent FROM state WHERE email = 'p3@example.com'").fetchone() == (
        "h3b",
        '{"first_name": "Ann"}',
    )
    assert state.compact(con, force=True)
    state.checkpoint([("p4@example.com", None, OPTED_OUT, None)])
    state.remove_pending("501")

    again = open_state(location, "https://ACME.api-us1.com/api/3", 7)  # another run, the same account
    assert again.read_meta() == {"list_name": "VIP", "stringid": "vip-1", "snapshot_rows": 30}
    assert again.pending() == {}
    assert again.load_into(con) == 30 and again.count(con, OPTED_OUT) == 1
    files = sorted(p.rsplit("/", 1)[-1] for p in store(s3).find(again.root))
    assert files[-2:] == ["meta.json", "snapshot.parquet"] and len(files) == 3  # and the one delta since
    assert not [p for p in store(s3).find(bucket) if ".tmp-" in p]


def test_an_older_layout_on_s3_is_moved_into_place(s3: S3, bucket: str) -> None:
    fs = store(s3)
    old = f"{bucket[5:]}/state/ACME.api-us1.com/list-7"
    row = {"email": "a@example.com", "fields_hash": "h", "status": "subscribed"}
    fs.pipe_file(f"{old}/deltas/0001.jsonl", json.dumps(row).encode() + b"\n")
    fs.pipe_file(f"{old}/meta.json", b'{"stringid": "vip-1"}')
    fs.pipe_file(f"{bucket[5:]}/state/ACME.api-us1.com/list-8/meta.json", b"{}")  # another list stays
    state = open_state(f"{bucket}/state", "https://acme.api-us1.com", 7)
    assert state.read_meta() == {"stringid": "vip-1"} and state.load_into(duckdb.connect()) == 1
    left = sorted(p.split("/", 1)[1] for p in fs.find(bucket))
    assert left == [
        "state/ACME.api-us1.com/list-8/meta.json",
        "state/ac-acme/list-7/deltas/0001.jsonl",
        "state/ac-acme/list-7/meta.json",
    ]


def test_set_aside_on_s3_moves_the_prefix(s3: S3, bucket: str) -> None:
    state = open_state(f"{bucket}/state", "https://acme.api-us1.com", 7)
    state.checkpoint([("a@example.com", "h", SUBSCRIBED, None)])
    state.write_meta({"stringid": "x"})
    target = state.set_aside("replaced")
    assert target is not None and target.startswith(f"{bucket[5:]}/state/ac-acme/list-7.replaced-")
    fs = store(s3)
    moved = sorted(p[len(target) :] for p in fs.find(target))
    assert len(moved) == 2 and moved[1] == "/meta.json" and moved[0].startswith("/deltas/")
    assert fs.find(state.root) == []
    fresh = open_state(f"{bucket}/state", "https://acme.api-us1.com", 7)
    assert fresh.is_empty() and fresh.read_meta() == {}
    assert state.set_aside("replaced") is None  # nothing left to move


def test_damage_on_s3_names_the_url_and_a_torn_delta_is_recovered(s3: S3, bucket: str) -> None:
    state = open_state(f"{bucket}/state", "https://acme.api-us1.com", 7)
    con = duckdb.connect()
    state.checkpoint([(f"p{i}@example.com", "h", SUBSCRIBED, None) for i in range(5)])
    state.compact(con, force=True)
    state.checkpoint([("x@example.com", "h", SUBSCRIBED, None), ("y@example.com", "h", SUBSCRIBED, None)])
    fs = store(s3)
    [delta] = fs.find(f"{state.root}/deltas")
    fs.pipe_file(delta, fs.cat_file(delta)[:-20])
    assert state.load_into(con) == 6 and len(state.recovered) == 1 and f"s3://{delta}" in state.recovered[0]
    fs.pipe_file(f"{state.root}/snapshot.parquet", b"PAR1 cut off")
    with pytest.raises(StateError) as exc:
        state.load_into(con)
    assert str(exc.value).startswith(f"the sync state file s3://{state.root}/snapshot.parquet is cut off (12 bytes")
    assert "the snapshot of 5 contacts cannot be read; the delta since holds 1 rows" in str(exc.value)


def test_credentials_and_endpoint_from_the_environment_alone(
    s3: S3, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a user of an S3-compatible server sets, with no AC_SYNC_STATE_OPTIONS at all.
    monkeypatch.delenv("AC_SYNC_STATE_OPTIONS")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        check_location(f"{bucket}/env")
        state = open_state(f"{bucket}/env", "https://acme.api-us1.com", 9)
        state.write_meta({"stringid": "env"})
        assert json.loads(store(s3).cat_file(f"{state.root}/meta.json")) == {"stringid": "env"}
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
