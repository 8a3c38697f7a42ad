"""Email validation in tiers: conservative SQL verdicts first, email-validator for the rest.

Per-row Python validation costs ~5-20 µs, far too slow for 10 M rows, so DuckDB decides what it
surely can: a regular expression, deliberately narrower than email-validator, accepts the common,
plainly valid addresses, and a few structural tests (no @-sign, a space inside, two periods in a
row, ...) reject the plainly invalid ones (property tests check both claims against
email-validator). Only what neither tier decides is validated in Python before the audience is
known; the reason text for an SQL-rejected address is email-validator's too, asked afterwards (it
is only needed for the rejected-rows log).

Whatever is accepted must be accepted by ActiveCampaign too, or one address voids a whole bulk import:
check_email is email-validator plus ActiveCampaign's stricter rules (plain ASCII, the top-level domain), and
a property test checks that the emulator's validator accepts every address the tool accepts.
"""

from __future__ import annotations

import re
import string

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from ac_sync.engine.sql import sql_literal

MISSING_EMAIL = "missing email"
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64

# ASCII whitespace around an address is spreadsheet noise, not part of the address. SQL trims only
# spaces (much cheaper); an address with a tab or newline around it just takes the slow path.
WHITESPACE = " \t\n\r\x0b\x0c"

_ATEXT = r"[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LETTERS = string.ascii_lowercase


def _any_case(letters: str) -> str:
    return "".join(sorted(set(letters + letters.upper())))


def _letters_except(words: list[str], length: int) -> str:
    """A pattern for `length` ASCII letters, in any case, that spell none of `words` (lowercase, that length)."""
    if not words:
        return f"[A-Za-z]{{{length}}}"
    firsts = sorted({w[0] for w in words})
    others = "".join(c for c in _LETTERS if c not in firsts)
    branches = [f"[{_any_case(others)}][A-Za-z]{{{length - 1}}}"] if others and length > 1 else []
    if others and length == 1:
        branches.append(f"[{_any_case(others)}]")
    for first in firsts:
        rest = [w[1:] for w in words if w[0] == first]
        if length > 1 and "" not in rest:
            branches.append(f"[{_any_case(first)}]{_letters_except(rest, length - 1)}")
    return "(?:" + "|".join(branches) + ")" if branches else "(?!)"


def _tld_regex(excluded: list[str], shortest: int = 2, longest: int = 63) -> str:
    """An alphabetic TLD of `shortest`..`longest` letters that is none of `excluded`, as one pattern.

    Checking the special-use names with a second regular expression cost a third of the fast path's time;
    folding them into the one the fast path already runs costs nothing measurable.
    """
    by_length: dict[int, list[str]] = {}
    for word in excluded:
        by_length.setdefault(len(word), []).append(word.lower())
    branches, run = [], None  # runs of lengths with nothing excluded become one {m,n}
    for length in range(shortest, longest + 2):
        if length <= longest and length not in by_length:
            run = (run[0], length) if run else (length, length)
            continue
        if run:
            branches.append(f"[A-Za-z]{{{run[0]},{run[1]}}}")
            run = None
        if length <= longest:
            branches.append(_letters_except(by_length[length], length))
    return "(?:" + "|".join(branches) + ")"


# Dot-atom local part; two or more LDH labels with an alphabetic TLD that is not a special-use name
# (email-validator refuses those, and their subdomains, even without DNS checks). Narrower than RFC 5322
# on purpose: anything unusual takes the slow, authoritative path instead.
FAST_EMAIL_REGEX = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+{_tld_regex(list(SPECIAL_USE_DOMAIN_NAMES))}"

_SPECIAL_USE_REGEX = r"(?i)[@.](?:" + "|".join(re.escape(d) for d in sorted(SPECIAL_USE_DOMAIN_NAMES)) + r")$"

# What ActiveCampaign is sent must be plain printable ASCII, whatever email-validator allows.
_AC_SAFE = re.compile(r"[\x21-\x7e]+")


def fast_email_sql(expr: str) -> str:
    """SQL boolean: true only for addresses (already trimmed) that email-validator surely accepts.

    `expr` must be a VARCHAR expression with spaces trimmed. NULL yields NULL, which callers treat
    as false. Addresses containing "--" take the slow path: email-validator gives such domain labels
    (Punycode "xn--", the reserved "ab--" form) extra IDNA checks that a regex cannot mirror.
    """
    return (
        f"(regexp_full_match({expr}, {sql_literal(FAST_EMAIL_REGEX)})"
        f" AND strlen({expr}) <= {MAX_EMAIL_LENGTH}"
        f" AND instr({expr}, '@') <= {MAX_LOCAL_LENGTH + 1}"
        f" AND NOT contains({expr}, '--'))"
    )


# Where email-validator would strip more than SQL's trim() does (tabs, newlines), nothing is claimed.
_CONTROL_WHITESPACE_REGEX = "[\t\n\r\x0b\x0c]"
# Characters an unquoted local part may hold (RFC 5322 atext and the period); quoting is not allowed.
_BAD_ASCII_LOCAL_REGEX = r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"
_BAD_ASCII_DOMAIN_REGEX = r"[^A-Za-z0-9.-]"


def surely_invalid_sql(expr: str) -> str:
    """SQL boolean: true only for addresses (spaces trimmed) that email-validator surely rejects.

    Meant for the rows the fast path did not accept. NULL and empty count as invalid (a missing
    email). Each test is a structural rule that no allowed syntax escapes (quoted local parts,
    display names and domain literals are all refused): no @-sign, nothing before it, more than one,
    a space, a period at either end or next to the @-sign or doubled, non-ASCII before the @-sign
    (SMTPUTF8 is refused), and, for a plain-ASCII domain, a character IDNA would refuse, no period,
    a hyphen at a label's edge, or a special-use name. Unicode domains are left to email-validator
    (IDNA maps full-width periods and more). Addresses with tabs or newlines are left alone too,
    since check_email strips those.
    """
    local = f"split_part({expr}, '@', 1)"
    domain = f"split_part({expr}, '@', 2)"
    ascii_domain = f"strlen({domain}) = length({domain})"
    return (
        f"({expr} IS NULL OR {expr} = '' OR (NOT regexp_matches({expr}, {sql_literal(_CONTROL_WHITESPACE_REGEX)}) AND ("
        f"instr({expr}, '@') = 0"
        f" OR starts_with({expr}, '@')"
        f" OR strlen({expr}) - strlen(replace({expr}, '@', '')) > 1"
        f" OR contains({expr}, ' ')"
        f" OR contains({expr}, '..') OR starts_with({expr}, '.') OR suffix({expr}, '.')"
        f" OR contains({expr}, '.@') OR contains({expr}, '@.')"
        f" OR strlen({local}) <> length({local})"
        f" OR (strlen({local}) = length({local}) AND regexp_matches({local}, {sql_literal(_BAD_ASCII_LOCAL_REGEX)}))"
        f" OR ({ascii_domain} AND ("
        f"regexp_matches({domain}, {sql_literal(_BAD_ASCII_DOMAIN_REGEX)})"
        f" OR NOT contains({domain}, '.')"
        f" OR starts_with({domain}, '-') OR suffix({domain}, '-')"
        f" OR contains({domain}, '.-') OR contains({domain}, '-.')"
        f" OR regexp_matches({expr}, {sql_literal(_SPECIAL_USE_REGEX)})"
        f")))))"
    )


# Addresses as a mail server takes them: no lookups, no quoting, literals or display names; strict enforces the
# 64-character local-part limit, which mail servers rely on.
_STRICT: dict[str, bool] = {
    "check_deliverability": False,
    "allow_smtputf8": False,
    "allow_quoted_local": False,
    "allow_domain_literal": False,
    "allow_display_name": False,
    "allow_empty_local": False,
    "strict": True,
}


def check_email(value: str | None) -> tuple[str | None, str | None]:
    """Decide one raw email value: (normalised email, None) or (None, reason)."""
    address = (value or "").strip(WHITESPACE)
    if not address:
        return None, MISSING_EMAIL
    try:
        result = validate_email(address, **_STRICT)
    except EmailNotValidError as exc:
        return None, str(exc)
    # ascii_email carries the Punycode form of an internationalised domain; ActiveCampaign wants ASCII.
    ascii_email = result.ascii_email
    if ascii_email is None or not _AC_SAFE.fullmatch(ascii_email):
        return None, "The email address must be plain ASCII for ActiveCampaign."
    tld_reason = _top_level_domain_reason(ascii_email, result.domain)
    if tld_reason:
        return None, tld_reason
    if len(ascii_email) > MAX_EMAIL_LENGTH:
        return None, (
            f"The email address is too long once its domain is converted to ASCII "
            f"({len(ascii_email)} characters, limit {MAX_EMAIL_LENGTH})."
        )
    return ascii_email.lower(), None


def _top_level_domain_reason(ascii_email: str, domain: str) -> str | None:
    """Why ActiveCampaign would refuse the address's top-level domain, where email-validator does not.

    email-validator only asks the TLD to end in a letter; ActiveCampaign plausibly refuses one of a single
    letter, digits or hyphens in it, and so an internationalised one (`.рф` is `.xn--p1ai`), as the emulator
    does. A bulk import with one such address is refused whole, so the row is rejected here instead.
    """
    tld = ascii_email.rsplit(".", 1)[-1]
    if tld.lower().startswith("xn--"):
        shown = domain.rsplit(".", 1)[-1]
        return f"ActiveCampaign does not take an internationalised top-level domain ('.{shown}')."
    if len(tld) < 2:
        return "The top-level domain must have two letters or more."
    if not (tld.isascii() and tld.isalpha()):
        return f"The top-level domain must be letters only, not '.{tld}'."
    return None


# A dot-atom local part email-validator accepts as it is (the fast path's, anchored), for check_email_cached.
_PLAIN_LOCAL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")


class DomainVerdicts:
    """check_email with the domain's verdict remembered: the same answers, much faster for repeated domains.

    email-validator spends most of its time on the domain (IDNA for an internationalised one: ~70 µs), and
    audiences repeat domains endlessly. When the local part is a plain dot-atom it cannot fail, and the
    address's verdict is the domain's (asked once, as "a@<domain>") joined to it; only an address long
    enough for a length rule to matter is validated whole. A property test checks the equivalence.
    """

    def __init__(self, max_domains: int = 100_000) -> None:
        self.max_domains = max_domains
        self._domains: dict[str, tuple[str | None, str | None]] = {}

    def check(self, value: str | None) -> tuple[str | None, str | None]:
        address = (value or "").strip(WHITESPACE)
        local, at, domain = address.rpartition("@")
        if not at or len(local) > MAX_LOCAL_LENGTH or not _PLAIN_LOCAL.fullmatch(local):
            return check_email(value)
        verdict = self._domains.get(domain)
        if verdict is None:
            if len(self._domains) >= self.max_domains:
                self._domains.clear()
            verdict = self._domains[domain] = check_email("a@" + domain)
        probe, reason = verdict
        if probe is None:
            # The probe may have failed on the address's length, whose count the probe's one-letter local
            # part gets wrong: a domain long enough for that is validated with the address whole.
            if 2 + 4 * len(domain.encode()) > MAX_EMAIL_LENGTH:
                return check_email(value)
            return None, reason
        ascii_domain = probe[2:]
        # Normalised forms can be longer than the input; a Unicode domain is at most 4 bytes a code point,
        # and IDNA spends at least one ASCII character on each.
        if len(address.encode()) > MAX_EMAIL_LENGTH or len(local) + 1 + 4 * len(ascii_domain) > MAX_EMAIL_LENGTH:
            return check_email(value)
        return f"{local}@{ascii_domain}".lower(), None
