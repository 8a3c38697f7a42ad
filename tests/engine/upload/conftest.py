"""An S3-compatible store on loopback (moto's server, in a thread) for the state and lock tests that need one."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class S3:
    endpoint: str

    @property
    def options(self) -> dict[str, object]:
        """Storage options for AC_SYNC_STATE_OPTIONS; eu-west-1 so that creating a bucket names its region."""
        return {
            "endpoint_url": self.endpoint,
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"region_name": "eu-west-1"},
        }


@pytest.fixture(scope="session")
def _s3_server() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer  # the dev extra's moto[server]

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def s3(_s3_server: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The store, reached through AC_SYNC_STATE_OPTIONS; no credentials or endpoint from anywhere else."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AC_SYNC_STATE_OPTIONS", json.dumps(_s3_server.options))
    return _s3_server


@pytest.fixture
def bucket(s3: S3) -> str:
    """A fresh bucket: `s3://<name>`."""
    import s3fs

    name = f"state-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(skip_instance_cache=True, **s3.options).mkdir(name)  # type: ignore[arg-type]
    return f"s3://{name}"
