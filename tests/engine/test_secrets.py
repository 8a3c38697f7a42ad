"""Secrets under any input (ac_sync.engine.secrets): pasted keys refused without echo, redaction, child processes."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from ac_sync.engine import secrets
from ac_sync.engine.errors import ConfigError
from ac_sync.engine.secrets import (
    RedactSecrets,
    clean_api_key,
    clean_api_url,
    install_redaction,
    kept_from_children,
    remember_secret,
    scrub,
    scrub_exception,
)
from ac_sync.engine.settings import ActiveCampaignCredentials, SyncSettings, load_credentials

KEY = "canary-5b1e0c7a-unit-key"
HALVES = (KEY[:12], KEY[12:])


def refusal(raw: str) -> str:
    with pytest.raises(ConfigError) as err:
        clean_api_key(raw, "AC_SYNC_API_KEY")
    message = str(err.value)
    assert "\n" not in message and not any(half in message for half in HALVES), message
    return message


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (KEY[:12] + "\xa0" + KEY[12:], "a no-break space at position 13"),
        (KEY + "\xa0", f"a no-break space at position {len(KEY) + 1}"),  # not ASCII: refused at the edge too
        (KEY[:5] + "\t" + KEY[5:], "a tab at position 6"),
        (KEY[:5] + " " + KEY[5:], "a space at position 6"),
        (KEY[:3] + "\n" + KEY[3:], "a line break at position 4"),
        ("\u200b" + KEY, "a zero-width space at position 1"),
        ("\ufeff" + KEY, "a byte-order mark at position 1"),
        (KEY[:4] + "\x07" + KEY[4:], "the control character U+0007 at position 5"),
        (KEY[:4] + "é" + KEY[4:], "U+00E9 (latin small letter e with acute) at position 5"),
        ("  " + KEY[:4] + "\xa0" + KEY[4:], "a no-break space at position 7"),  # counted in the value as given
    ],
)
def test_a_pasted_character_is_named_never_the_key(raw: str, what: str) -> None:
    assert refusal(raw) == (f"AC_SYNC_API_KEY holds a character that cannot be in an API key ({what}): paste it again")


@pytest.mark.parametrize("raw", [KEY + "\n", KEY + "\r\n", "  " + KEY + "\t", "\n" + KEY])
def test_ascii_whitespace_around_the_key_is_stripped(raw: str) -> None:
    assert clean_api_key(raw, "AC_SYNC_API_KEY") == KEY


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("127.0.0.1:8765", "has no scheme: write it as https://127.0.0.1:8765"),
        ("acme.api-us1.com", "has no scheme"),
        ("user:secret-pass@acme.api-us1.com", "has no scheme: write it as https://youraccount.api-us1.com"),
        ("http://acme.api-us1.com", "uses plain HTTP"),
        ("https://acme.api-us1.com\xa0", "a no-break space at position 25"),
        ("ftp://acme.api-us1.com", "is not an http(s) URL"),
    ],
)
def test_a_url_that_cannot_be_right_is_a_configuration_error(raw: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        clean_api_url(raw, "AC_SYNC_API_URL")
    assert str(err.value).startswith("AC_SYNC_API_URL") and needle in str(err.value)
    assert "secret-pass" not in str(err.value)


def test_a_good_url_passes_stripped() -> None:
    assert clean_api_url(" https://acme.api-us1.com/api/3\n", "AC_SYNC_API_URL") == "https://acme.api-us1.com/api/3"


# --- every source of a key: environment, .env, the credentials block --------------------------------------


@pytest.fixture
def no_settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("AC_SYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_settings_refuse_a_pasted_key_from_the_environment(
    no_settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AC_SYNC_API_KEY", KEY[:12] + "\xa0" + KEY[12:])
    with pytest.raises(ConfigError, match=r"^AC_SYNC_API_KEY holds .*no-break space at position 13"):
        SyncSettings()
    monkeypatch.setenv("AC_SYNC_API_KEY", KEY + "\n")
    settings = SyncSettings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY


def test_settings_refuse_a_pasted_key_from_dotenv(no_settings_env: Path) -> None:
    (no_settings_env / ".env").write_text(f"AC_SYNC_API_KEY={KEY[:5]}\t{KEY[5:]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="a tab at position 6"):
        SyncSettings()


def test_settings_refuse_a_url_without_scheme(no_settings_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AC_SYNC_API_URL", "127.0.0.1:8765")
    with pytest.raises(ConfigError, match="^AC_SYNC_API_URL: the API URL has no scheme"):
        SyncSettings()


def test_the_credentials_block_refuses_a_pasted_key() -> None:
    with pytest.raises(ConfigError) as err:
        ActiveCampaignCredentials(api_url="https://acme.api-us1.com", api_key=SecretStr(KEY[:12] + "\xa0" + KEY[12:]))
    assert str(err.value) == (
        "the credentials block's API key holds a character that cannot be in an API key (a no-break space at"
        " position 13): paste it again"
    )
    block = ActiveCampaignCredentials(api_url="https://acme.api-us1.com", api_key=SecretStr(KEY + "\n"))
    assert block.api_key.get_secret_value() == KEY


async def test_a_saved_block_with_a_pasted_key_is_refused_when_loaded(prefect_backend: None) -> None:
    # Saved without validation, as the UI's form or an older version of this tool could have.
    block = ActiveCampaignCredentials.model_construct(
        api_url="https://acme.api-us1.com", api_key=SecretStr(KEY[:5] + "\t" + KEY[5:])
    )
    await block.asave("pasted-tab", overwrite=True)
    with pytest.raises(ConfigError, match="^the credentials block's API key holds .*a tab at position 6"):
        await load_credentials("pasted-tab")


# --- redaction -------------------------------------------------------------------------------------------


def test_scrub_finds_the_key_in_the_forms_it_is_printed_in() -> None:
    pasted = KEY[:12] + "\xa0" + KEY[12:]
    remember_secret(KEY)
    remember_secret(pasted)
    texts = [
        f"key {KEY} end",
        f"UnicodeEncodeError('ascii', {pasted!r}, 12, 13, 'ordinal not in range(128)')",
        f"Illegal header value {(KEY + chr(10)).encode()!r}",
        '{"key": "' + pasted.replace("\xa0", "\\u00a0") + '"}',
    ]
    for text in texts:
        assert not any(half in scrub(text) for half in HALVES), text
    assert scrub("headers {'Api-Token': 'other-key-123456'}") == "headers {'Api-Token': '[redacted]'}"
    assert scrub("Api-Token: other-key-123456") == "Api-Token: [redacted]"
    assert scrub("postgresql://me:pw-9@db:5432/x") == "postgresql://me:[redacted]@db:5432/x"
    assert scrub("short words stay") == "short words stay"


def test_the_filter_scrubs_message_arguments_and_exception() -> None:
    remember_secret(KEY)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("tests.secrets.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sent %s with %r", KEY, {"Api-Token": KEY})
        try:
            try:
                KEY.encode("ascii") and (KEY + "\xa0").encode("ascii")
            except UnicodeEncodeError as inner:
                raise RuntimeError(f"could not send {KEY}") from inner
        except RuntimeError as exc:
            logger.exception("failed: %s", exc)
            raised = exc
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "Traceback" in text and "could not send [redacted]" in text
    assert not any(half in text for half in HALVES), text
    # In place: Prefect builds the failed state's message from the same exception object afterwards.
    assert KEY not in str(raised) and KEY not in repr(raised.__cause__)


def test_scrub_exception_walks_the_chain() -> None:
    remember_secret(KEY)
    group = ExceptionGroup("many", [ValueError(f"a {KEY}"), KeyError(KEY)])
    scrub_exception(group)
    assert KEY not in repr(group.exceptions)


def test_install_redaction_reaches_prefects_handlers() -> None:
    from prefect.logging.handlers import APILogHandler

    install_redaction()
    handlers = [h for name in secrets.LOGGERS for h in logging.getLogger(name).handlers]
    assert any(isinstance(h, APILogHandler) for h in handlers)
    assert all(any(isinstance(f, RedactSecrets) for f in h.filters) for h in handlers)
    assert install_redaction() == 0  # idempotent


# --- child processes -------------------------------------------------------------------------------------


def test_kept_from_children_holds_and_restores(no_settings_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AC_SYNC_API_KEY", KEY)
    monkeypatch.setenv("AC_SYNC_DATABASE_URL", "postgresql://me:pw@db/x")
    with kept_from_children():
        assert "AC_SYNC_API_KEY" not in os.environ and "AC_SYNC_DATABASE_URL" not in os.environ
        settings = SyncSettings()
        assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY
        assert settings.database_url is not None
        # A key set again meanwhile (rotated) is newer than the held one, and stays afterwards.
        monkeypatch.setenv("AC_SYNC_API_KEY", "rotated-key-0042")
        rotated = SyncSettings().api_key
        assert rotated is not None and rotated.get_secret_value() == "rotated-key-0042"
    assert os.environ["AC_SYNC_API_KEY"] == "rotated-key-0042"
    assert os.environ["AC_SYNC_DATABASE_URL"] == "postgresql://me:pw@db/x"
    assert secrets.held_secrets() == {}


SERVER_SCRIPT = textwrap.dedent(
    """
    import sys
    from ac_sync.engine.secrets import kept_from_children

    with kept_from_children():
        from prefect.client.orchestration import get_client
        from prefect.server.api.server import SubprocessASGIServer

        get_client()  # no PREFECT_API_URL: this starts Prefect's temporary server, a child process
        print(SubprocessASGIServer._instances[None].server_process.pid, flush=True)
        sys.stdin.readline()
    """
)


def environ_of(pid: int) -> dict[bytes, bytes]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.split(b"=", 1) for entry in entries if b"=" in entry)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc/<pid>/environ")
def test_prefects_temporary_server_inherits_no_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AC_SYNC_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        AC_SYNC_API_KEY=KEY,
        AC_SYNC_DATABASE_URL="postgresql://me:db-canary-9c2@db/x",
        AC_SYNC_GROUP_NAME="not a secret",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    server_pid = None
    try:
        assert proc.stdout is not None and proc.stdin is not None
        server_pid = int(proc.stdout.readline())
        child = environ_of(server_pid)
        assert b"PREFECT_HOME" in child and child.get(b"AC_SYNC_GROUP_NAME") == b"not a secret", "not its env"
        # (messages of their own: a failing assertion would print the whole environment)
        assert b"AC_SYNC_API_KEY" not in child, "AC_SYNC_API_KEY in the server's environment"
        assert b"AC_SYNC_DATABASE_URL" not in child, "AC_SYNC_DATABASE_URL in the server's environment"
        raw = Path(f"/proc/{server_pid}/environ").read_bytes()
        assert KEY.encode() not in raw and b"db-canary-9c2" not in raw, "a secret in the server's environment"
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if server_pid is not None and Path(f"/proc/{server_pid}").exists():
            os.kill(server_pid, signal.SIGTERM)  # orphaned by the kill above: the server this test started
