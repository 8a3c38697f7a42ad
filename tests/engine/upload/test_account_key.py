"""One account, one state key, whatever the URL's spelling: scheme, host case, `/api/3`, a trailing path or slash."""

from __future__ import annotations

import pytest

from ac_sync.engine.upload.state import account_key

SAME_ACCOUNT = {
    "localhost_8765": [
        "http://localhost:8765",
        "HTTP://localhost:8765",
        "http://LOCALHOST:8765",
        "http://localhost:8765/",
        "http://localhost:8765/api/3",
        "http://localhost:8765/api/3/",
        "http://user@localhost:8765/api/3",
    ],
    "ac-acme": [
        "https://acme.api-us1.com",
        "https://ACME.api-us1.com/api/3/",
        "HTTPS://acme.activehosted.com",
        "https://acme.api-us2.com/",
    ],
}


@pytest.mark.parametrize(
    ("key", "url"), [(k, u) for k, urls in SAME_ACCOUNT.items() for u in urls], ids=lambda v: str(v)
)
def test_every_spelling_of_one_account_is_one_key(key: str, url: str) -> None:
    assert account_key(url) == key


def test_other_accounts_are_other_keys() -> None:
    assert account_key("http://localhost:8766") != account_key("http://localhost:8765")
    assert account_key("https://acme2.api-us1.com") != account_key("https://acme.api-us1.com")
