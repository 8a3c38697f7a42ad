"""The emulator's notion of a well-formed email address.

Stricter than "contains an @" and looser than RFC 5322: it models what ActiveCampaign plausibly rejects
(the bulk import refuses a whole request over one such address), not what a mail server would accept.
"""

from __future__ import annotations

import string

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-")
_LDH = frozenset(string.ascii_letters + string.digits + "-")


def is_valid_email(email: object, allow_unicode: bool = False) -> bool:
    if not isinstance(email, str) or not email or len(email) > 254:
        return False
    if not allow_unicode and not email.isascii():
        return False
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        return False
    if email.count("@") != 1:
        return False
    local, domain = email.split("@")
    return _valid_local(local, allow_unicode) and _valid_domain(domain, allow_unicode)


def _valid_local(local: str, allow_unicode: bool) -> bool:
    if not local or len(local) > 64:
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return all(ch == "." or ch in _ATEXT or (allow_unicode and not ch.isascii()) for ch in local)


def _valid_domain(domain: str, allow_unicode: bool) -> bool:
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    for label in labels:
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            return False
        if not all(ch in _LDH or (allow_unicode and not ch.isascii() and ch.isalnum()) for ch in label):
            return False
    tld = labels[-1]
    return len(tld) >= 2 and tld.isalpha() and (allow_unicode or tld.isascii())
