"""Where a sync state can live: an fsspec URL's scheme, its driver and storage options, checked before any write.

A state location is a local folder or any fsspec URL. The object stores come with the package's extras:

    s3://bucket/prefix      pip install 'activecampaign-audience-sync[s3]'      (s3fs)
    gs://bucket/prefix      pip install 'activecampaign-audience-sync[gcs]'     (gcsfs)
    az://container/prefix   pip install 'activecampaign-audience-sync[azure]'   (adlfs; also abfs://)

Credentials and endpoints come from where each driver looks for them: for S3, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`, `AWS_DEFAULT_REGION` and `AWS_ENDPOINT_URL_S3` (an
S3-compatible server: MinIO, Ceph, R2...), or an instance role; for GCS, `GOOGLE_APPLICATION_CREDENTIALS` or the
machine's default credentials; for Azure, `AZURE_STORAGE_CONNECTION_STRING`, or `AZURE_STORAGE_ACCOUNT_NAME` with
`AZURE_STORAGE_ACCOUNT_KEY` (or a service principal's `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`).
Anything else the driver takes goes in `AC_SYNC_STATE_OPTIONS`, a JSON object of its storage options, e.g.

    AC_SYNC_STATE_OPTIONS='{"endpoint_url": "https://minio.internal:9000", "client_kwargs": {"region_name": "eu"}}'

(for s3fs `key`/`secret` can go there too, but the environment variables above keep the secret out of one
more place).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
from fsspec.core import split_protocol, url_to_fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.registry import known_implementations, registry

from ac_sync.engine.errors import ConfigError, StateError, one_line
from ac_sync.engine.privacy import make_private_folder

STATE_OPTIONS_ENV = "AC_SYNC_STATE_OPTIONS"
PACKAGE = "activecampaign-audience-sync"
# The install extra that brings each object store's driver.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}
# Stores of objects, not folders: a write is one atomic put, a "folder" is a key prefix that exists only while an
# object is under it, and `makedirs` on a bucket name would create the bucket.
OBJECT_STORES = frozenset(EXTRAS)
# Where the driver takes credentials from, for a message about a location it could not write to.
CREDENTIALS_HINT = {
    "s3": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL_S3 for an S3-compatible server)",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS",
    "azure": "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY",
}


def protocol_of(location: str) -> str:
    protocol, _ = split_protocol(str(location))
    return (protocol or "file").lower()


def protocols(fs: fsspec.AbstractFileSystem) -> set[str]:
    names = fs.protocol
    return {names} if isinstance(names, str) else set(names)


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, LocalFileSystem)


def is_object_store(fs: fsspec.AbstractFileSystem) -> bool:
    return bool(protocols(fs) & OBJECT_STORES)


def storage_options() -> dict[str, Any]:
    """The storage options of `AC_SYNC_STATE_OPTIONS` (a JSON object), or none."""
    raw = os.environ.get(STATE_OPTIONS_ENV, "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{STATE_OPTIONS_ENV} is not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{STATE_OPTIONS_ENV} must be a JSON object of storage options, not {type(options).__name__}")
    return options


def _driver(protocol: str, location: str) -> None:
    """Raise ConfigError when fsspec does not know the scheme, or its driver is not installed."""
    if protocol in registry:
        return
    if protocol not in known_implementations:
        stores = ", ".join(f"{p}://" for p in sorted(EXTRAS) if p in ("s3", "gs", "az"))
        raise ConfigError(
            f"the state location {location} has an unknown scheme {protocol}://: use a local folder or an fsspec URL"
            f" ({stores}, ...)"
        )
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        extra = EXTRAS.get(protocol)
        if extra:
            install = f"pip install '{PACKAGE}[{extra}]'"
            raise ConfigError(f"{protocol}:// needs `{install}` (for the state location {location})") from None
        raise ConfigError(
            f"{protocol}:// needs its fsspec driver (for the state location {location}): {one_line(exc)}"
        ) from None


def open_location(location: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of a state location, with the storage options of AC_SYNC_STATE_OPTIONS."""
    location = str(location)
    protocol = protocol_of(location)
    _driver(protocol, location)
    options = storage_options() if protocol != "file" else {}
    try:
        return url_to_fs(location, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"cannot open the state location {location} with {STATE_OPTIONS_ENV}: {one_line(exc)}"
        ) from None


def shown(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A path as the user would type it: plain on a local disk, with its scheme elsewhere."""
    return str(path) if is_local(fs) else fs.unstrip_protocol(path)


def check_location(location: str) -> None:
    """Check, before any write, that the state can be kept at `location`; raises ConfigError or StateError.

    The scheme must be known and its driver installed (ConfigError, naming the extra to install); the location
    must be a folder (or a bucket prefix), not a file, and writable: a probe file is created there and removed
    (StateError). A local folder that does not exist yet is created, as the first checkpoint would.
    """
    fs, root = open_location(location)
    where = f"the state location {location}"
    try:
        if fs.isfile(root):
            raise StateError(f"{where} is a file, not a folder: give a folder (or a bucket prefix) for the state")
        if is_local(fs):
            _local_folder(Path(root), where)
            make_private_folder(Path(root))  # the state lists every contact: its folder is the operator's alone
        elif not is_object_store(fs):
            fs.makedirs(root, exist_ok=True)
        probe = f"{root.rstrip('/')}/.ac-sync-probe-{uuid.uuid4().hex[:12]}"
        fs.pipe_file(probe, b"ac-sync checks it can write here\n")
        fs.rm_file(probe)
    except (ConfigError, StateError):
        raise
    except PermissionError as exc:
        raise StateError(f"{where} is not writable ({_reason(exc)}){_credentials(location)}") from None
    except FileNotFoundError as exc:
        raise StateError(f"{where} cannot be written: {_reason(exc)} (does the bucket or container exist?)") from None
    except Exception as exc:  # noqa: BLE001 - any driver's failure (network, credentials) becomes one line
        raise StateError(f"{where} cannot be written: {_reason(exc)}{_credentials(location)}") from None


def check_output_file(path: str | Path) -> None:
    """Check, before any write, that a file can be written at `path` (the rejected-rows CSV); raises ConfigError.

    The path must not be a folder, and its folder (created when missing, as the writer does) must be writable:
    a probe file is created there and removed. An existing file is not touched.
    """
    where = f"the rejected-rows file {path}"
    if protocol_of(str(path)) != "file":  # on a store: a probe where it goes, as check_location does
        fs, remote = open_location(str(path))
        probe = f"{remote.rsplit('/', 1)[0]}/.ac-sync-probe-{uuid.uuid4().hex[:12]}"
        try:
            fs.pipe_file(probe, b"")
            fs.rm_file(probe)
        except Exception as exc:  # noqa: BLE001 - any driver's failure (network, credentials) becomes one line
            raise ConfigError(f"{where} cannot be written ({_reason(exc)}){_credentials(str(path))}") from None
        return
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{where} is a folder: give a file path (--verbose-log PATH)")
    try:
        _local_folder(target.parent if str(target.parent) else Path("."), where)
        if target.exists() and not os.access(target, os.W_OK):
            raise PermissionError(f"{target} is read-only")
        probe = target.parent / f".ac-sync-probe-{uuid.uuid4().hex[:12]}"
        probe.write_bytes(b"")
        probe.unlink()
    except StateError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be written ({_reason(exc)})") from None


def _local_folder(folder: Path, where: str) -> None:
    """Create a local folder, or raise StateError naming the part of its path that is a file."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise StateError(f"{where} cannot be made: {part} is a file, not a folder")
            break
    folder.mkdir(parents=True, exist_ok=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {one_line(exc)}"


def _credentials(location: str) -> str:
    hint = CREDENTIALS_HINT.get(EXTRAS.get(protocol_of(location), ""))
    return f"; check the credentials in {hint}, or {STATE_OPTIONS_ENV}" if hint else ""


def put_private(local: Path, url: str) -> None:
    """Put a local file at `url` readable by its owner alone: on S3 with the canned ACL `private` (a bucket
    with ACLs off, S3's default since 2023, refuses any ACL and keeps every object its owner's); on another
    store that takes ACLs, with `private` set after (a local file is open_private's). Raises StateError in one
    line."""
    fs, path = open_location(url)
    try:
        if "s3" in protocols(fs):
            try:
                fs.put_file(str(local), path, ACL="private")
            except Exception as exc:  # noqa: BLE001 - the store's own refusal of ACLs, whatever its class
                if "AccessControlListNotSupported" not in f"{type(exc).__name__} {exc}":
                    raise
                fs.put_file(str(local), path)
        else:
            fs.put_file(str(local), path)
            if hasattr(fs, "chmod"):
                with contextlib.suppress(Exception):  # a store without ACLs keeps its own access rules
                    fs.chmod(path, acl="private")
    except Exception as exc:  # noqa: BLE001 - any driver's failure becomes one line naming the place
        raise StateError(f"cannot write the rejected-rows file {url}: {_reason(exc)}{_credentials(url)}") from None
