"""Personal data kept to its owners: emails masked (with a keyed digest) where Prefect would store them, and the
files a run writes private (folders 0700, files 0600) whatever the umask."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

MASK = "•••"
DIGEST_CHARS = 10
PRIVATE_UMASK = 0o077
_DIGEST = re.compile(r"^[0-9a-f]{6,64}$")


def masked(email: str | None) -> str:
    """`jane@example.com` as `j•••@e•••.com`: enough to tell rows apart by eye, not to know who they are (an
    address too short or too odd to mask shows only the mask)."""
    text = (email or "").strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return f"{text[:1]}{MASK}" if len(text) > 3 else MASK
    head, dot, tld = domain.rpartition(".")
    shown_domain = f"{head[:1]}{MASK}.{tld}" if dot and head and tld.isalpha() and len(tld) <= 6 else MASK
    return f"{local[:1]}{MASK}@{shown_domain}" if local else f"{MASK}@{shown_domain}"


class Digester:
    """A short keyed digest of an email: the same address gives the same digest within one run (its key is the
    run's, random, and never stored), so an artifact's row can be found in the run's private file by it while
    nobody who sees only the digest can test a guessed address against it."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def __call__(self, email: str | None) -> str:
        text = (email or "").strip().lower().encode("utf-8", "surrogatepass")
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()[:DIGEST_CHARS]


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text.strip().lower()))


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Everything created inside is the operator's alone (umask 077): the work copy, the sync state, the locks,
    the rejected rows. The umask is the process's, so this is entered once, around a whole run."""
    before = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(before)


def private_parent(path: Path) -> None:
    """`path`'s folder, created 0700 (with the folders it needs) whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=stat.S_IRWXU)
    make_private_folder(path.parent)


def make_private_folder(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError, PermissionError):
        folder.chmod(stat.S_IRWXU)


def open_private(path: Path, mode: str = "w", **kw: Any) -> IO[Any]:
    """`path` opened for writing as a file only its owner reads (0600 from its first byte)."""
    private_parent(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, mode, **kw)
