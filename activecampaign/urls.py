"""Base-URL normalisation: the URL from Settings → Developer, with or without `/api/3`."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ac_sync.activecampaign.errors import ApiUrlError

API_PREFIX = "/api/3"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str) -> str:
    """Answer `scheme://host[:port]/api/3` or raise ApiUrlError with a fix-it message.

    Plain HTTP is refused for anything but loopback: the key travels in a header on every request.
    """
    raw = (url or "").strip()
    if not raw:
        raise ApiUrlError("the API URL is empty: copy it from ActiveCampaign's Settings → Developer page")
    if "://" not in raw:
        # "127.0.0.1:8765" or "acme.api-us1.com": urlsplit would take the host for a scheme or a path. Text with
        # an @-sign may hold a password, so it is not repeated.
        example = f"https://{raw}" if "@" not in raw else "https://youraccount.api-us1.com"
        raise ApiUrlError(f"the API URL has no scheme: write it as {example} (http:// only for a local emulator)")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiUrlError(f"the API URL {raw!r} is not an http(s) URL such as https://youraccount.api-us1.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ApiUrlError("the API URL must not contain credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ApiUrlError(f"the API URL {raw!r} uses plain HTTP; ActiveCampaign needs https://")
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    if path:
        raise ApiUrlError(f"the API URL {raw!r} has an unexpected path {parts.path!r}; use the bare account URL")
    return f"{parts.scheme}://{parts.netloc}{API_PREFIX}"
