"""Email validation: the edge cases, normalisation, duplicates, and the SQL fast path's subset claim."""

from __future__ import annotations

import csv
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ac_sync.activecampaign.emulator.emails import is_valid_email
from ac_sync.engine.audience import check_email, connect_db, prepare_audience
from ac_sync.engine.audience.emails import (
    FAST_EMAIL_REGEX,
    MISSING_EMAIL,
    DomainVerdicts,
    fast_email_sql,
    surely_invalid_sql,
)


def fetch(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with connect_db(db) as con:
        return con.execute(sql).fetchall()


def prepare_emails(tmp_path: Path, emails: list[str]) -> Path:
    path = tmp_path / "emails.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email"])
        writer.writerows([e] for e in emails)
    db = tmp_path / "audience.duckdb"
    prepare_audience(str(path), db)
    return db


LONG_LOCAL = "a" * 64
SPECIAL_USE = "The part after the @-sign is a special-use or reserved name that cannot be used with email."
VALID = {
    # input -> normalised email
    "john.doe@example.com": "john.doe@example.com",
    "  Mixed.Case@Example.COM ": "mixed.case@example.com",
    "\tuser@example.com\n": "user@example.com",
    "o'brien+news@mail.example.ie": "o'brien+news@mail.example.ie",
    "first_last-1@sub.domain.example.org": "first_last-1@sub.domain.example.org",
    "x@a.io": "x@a.io",
    "Info@Example.com": "info@example.com",
    "user@foo--bar.com": "user@foo--bar.com",
    "ascii@xn--bcher-kva.de": "ascii@xn--bcher-kva.de",
    "idn@bücher.de": "idn@xn--bcher-kva.de",
    "upper@BÜCHER.de": "upper@xn--bcher-kva.de",
    f"{LONG_LOCAL}@example.com": f"{LONG_LOCAL}@example.com",
    "#!$%&'*+-/=?^_`{|}~@example.com": "#!$%&'*+-/=?^_`{|}~@example.com",
}
INVALID = {
    # input -> reason (email-validator's, or ours for what ActiveCampaign would refuse)
    "a@b@c": "The part after the @-sign contains invalid characters: '@'.",
    "": MISSING_EMAIL,
    "   ": MISSING_EMAIL,
    "u" * 290 + "@example.com": "The email address is too long before the @-sign (226 characters too many).",
    "a" * 65 + "@example.com": "The email address is too long before the @-sign (1 character too many).",
    "jöhn@example.com": "Internationalized characters before the @-sign are not supported: 'ö'.",
    "a\x01b@example.com": "The email address contains invalid characters before the @-sign: U+0001.",
    "user@example.com.": "An email address cannot end with a period.",
    '"john doe"@example.com': "Quoting the part before the @-sign is not allowed here.",
    '"john"@example.com': "Quoting the part before the @-sign is not allowed here.",
    "user@[192.168.0.1]": "A bracketed IP address after the @-sign is not allowed here.",
    "user@localhost": "The part after the @-sign is not valid. It should have a period.",
    "user@mail.localhost": SPECIAL_USE,
    "user@example.test": SPECIAL_USE,
    "John <john@example.com>": "A display name and angle brackets around the email address are not permitted here.",
    "john doe@example.com": "The email address contains invalid characters before the @-sign: SPACE.",
    "john..doe@example.com": "An email address cannot have two periods in a row.",
    ".john@example.com": "An email address cannot start with a period.",
    "user@-example.com": "An email address cannot have a hyphen immediately after the @-sign.",
    "user@ab--cd.com": (
        "An email address cannot have two letters followed by two dashes immediately after the @-sign"
        " or after a period, except Punycode."
    ),
    "no-at-sign": "An email address must have an @-sign.",
    "user@example": "The part after the @-sign is not valid. It should have a period.",
    # email-validator accepts these; ActiveCampaign (as the emulator models it) would void the import.
    "user@example.c": "The top-level domain must have two letters or more.",
    "user@example.c0m": "The top-level domain must be letters only, not '.c0m'.",
    "user@example.co-m": "The top-level domain must be letters only, not '.co-m'.",
    "user@example.xn--p1ai": "ActiveCampaign does not take an internationalised top-level domain ('.рф').",
    "user@пример.рф": "ActiveCampaign does not take an internationalised top-level domain ('.рф').",
}


def test_edge_cases_through_the_pipeline(tmp_path: Path) -> None:
    emails = list(VALID) + list(INVALID)
    db = prepare_emails(tmp_path, emails)
    got_valid = dict(fetch(db, "SELECT source_row, email FROM audience"))
    rejected = fetch(db, "SELECT source_row, email, reason FROM rejected")
    got_rejected = {row: (email, reason) for row, email, reason in rejected}
    for i, raw in enumerate(emails, start=1):
        if raw in VALID:
            assert got_valid.get(i) == VALID[raw], raw
        else:
            assert i in got_rejected, raw
            email, reason = got_rejected[i]
            assert reason == INVALID[raw], raw
            # The rejected table keeps the value as the source had it (the CSV reader turns "" into NULL).
            assert email == (raw or None), raw


def test_check_email_agrees_with_the_table() -> None:
    for raw, normalised in VALID.items():
        assert check_email(raw) == (normalised, None), raw
    for raw, reason in INVALID.items():
        assert check_email(raw) == (None, reason), raw
    assert check_email(None) == (None, MISSING_EMAIL)


def test_too_long_after_idna_encoding() -> None:
    # 250 characters as typed, more than 254 once the domain is Punycode.
    address = "a" * 200 + "@" + "ü" * 40 + ".de"
    email, reason = check_email(address)
    assert email is None
    assert reason is not None and "too long" in reason


def test_valid_emails_are_ascii_and_short_enough(tmp_path: Path) -> None:
    db = prepare_emails(tmp_path, list(VALID))
    for (email,) in fetch(db, "SELECT email FROM audience"):
        assert email.isascii() and email.isprintable() and " " not in email
        assert len(email) <= 254 and '"' not in email and "[" not in email


def test_normalisation_and_duplicates_first_occurrence_wins(tmp_path: Path) -> None:
    emails = [
        "Ann@Example.com",  # 1 kept
        "bob@example.com",  # 2 kept
        " ann@example.COM",  # 3 duplicate of 1
        "bad",  # 4 invalid
        "BOB@EXAMPLE.COM  ",  # 5 duplicate of 2
        "ann@example.com",  # 6 duplicate of 1
        "bad",  # 7 invalid, not a duplicate: only valid rows are de-duplicated
        "user@bücher.de",  # 8 kept, normalised to Punycode
        "USER@xn--bcher-kva.de",  # 9 duplicate of 8 after normalising
    ]
    db = prepare_emails(tmp_path, emails)
    assert fetch(db, "SELECT source_row, email FROM audience ORDER BY 1") == [
        (1, "ann@example.com"),
        (2, "bob@example.com"),
        (8, "user@xn--bcher-kva.de"),
    ]
    assert fetch(db, "SELECT source_row, email, reason FROM rejected ORDER BY 1") == [
        (3, " ann@example.COM", "duplicate of row 1"),
        (4, "bad", "An email address must have an @-sign."),
        (5, "BOB@EXAMPLE.COM  ", "duplicate of row 2"),
        (6, "ann@example.com", "duplicate of row 1"),
        (7, "bad", "An email address must have an @-sign."),
        (9, "USER@xn--bcher-kva.de", "duplicate of row 8"),
    ]


def test_summary_counts_add_up(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("email\na@example.com\nA@example.com\n\nbad\nb@example.com\n")
    summary = prepare_audience(str(path), tmp_path / "db.duckdb")
    assert (summary.rows, summary.valid, summary.invalid, summary.duplicates) == (5, 2, 2, 1)


# --- the SQL fast path only accepts what email-validator accepts ------------------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
EMAILISH = ATEXT + '.@-[]" \t\\(),:;<>ü\x00\x7f'
SPECIAL = sorted(SPECIAL_USE_DOMAIN_NAMES)


@pytest.fixture(scope="module")
def fast_path() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        yield con


def fast_accepts(con: duckdb.DuckDBPyConnection, addresses: list[str]) -> list[str]:
    rows = con.execute(
        f"SELECT a FROM (SELECT unnest(?) AS a) WHERE coalesce({fast_email_sql('a')}, false)", [addresses]
    ).fetchall()
    return [r[0] for r in rows]


labels = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]),
    st.lists(st.one_of(labels, st.sampled_from(["xn--bcher-kva", "ab--cd", "a" * 63, "a" * 64])), min_size=1),
    st.one_of(st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True), st.sampled_from(SPECIAL + ["c0m", "x"])),
)
locals_ = st.one_of(
    st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*", fullmatch=True),
    st.text(alphabet=EMAILISH, min_size=0, max_size=70),
)
candidates = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", locals_, domains),
    st.from_regex(FAST_EMAIL_REGEX, fullmatch=True),
    st.text(alphabet=EMAILISH, max_size=80),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(candidates, min_size=1, max_size=40))
def test_fast_path_is_a_subset_of_email_validator(fast_path: duckdb.DuckDBPyConnection, batch: list[str]) -> None:
    for address in fast_accepts(fast_path, batch):
        try:
            result = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError as exc:  # pragma: no cover - this is the failure being hunted
            pytest.fail(f"fast path accepted {address!r}, email-validator says: {exc}")
        # ...and agrees on the normalised form and on what ActiveCampaign is sent.
        assert result.ascii_email is not None and result.ascii_email.lower() == address.lower()
        assert check_email(address) == (address.lower(), None)


def test_fast_path_accepts_the_common_case(fast_path: duckdb.DuckDBPyConnection) -> None:
    common = ["john.doe@example.com", "A.B-C_d+e@mail.co.uk", "x@y.museum", "o'neil@example.ie"]
    assert fast_accepts(fast_path, common) == common
    assert fast_accepts(fast_path, ["a@b.test", "a@b.LOCAL", "a--b@x.com", "a@x.c0m", "a@b", "a@b.c"]) == []


# --- the SQL reject tier only rejects what email-validator rejects -----------------------------------

ODD = '()<>[]\\,;:"@. \t\x01\x7fü。．ｅ-_'
local_parts = st.one_of(
    st.from_regex(r"[A-Za-z0-9._%+-]{0,20}", fullmatch=True),
    st.text(alphabet=ATEXT + ODD, max_size=20),
    st.text(max_size=12),
)
domain_parts = st.one_of(
    domains,
    st.from_regex(r"[A-Za-z0-9.-]{0,20}", fullmatch=True),
    st.text(alphabet=string.ascii_letters + ODD, max_size=20),
    st.builds(lambda a, b: f"{a}.{b}", labels, st.sampled_from(SPECIAL + ["com", "LOCAL", "Test"])),
    st.text(max_size=12),
)
reject_candidates = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domain_parts),
    st.builds(lambda a, b, c: f"{a}@{b}@{c}", local_parts, local_parts, domain_parts),
    st.text(alphabet=EMAILISH + "。．ｅ", max_size=40),
    candidates,
).flatmap(lambda a: st.sampled_from([a, f"  {a} ", f"{a}\t", f" \n{a}"]))


def sql_rejects(con: duckdb.DuckDBPyConnection, addresses: list[str]) -> list[str]:
    rows = con.execute(
        f"SELECT a FROM (SELECT unnest(?) AS a) WHERE coalesce({fast_email_sql('trim(a)')}, false) = false"
        f" AND {surely_invalid_sql('trim(a)')}",
        [addresses],
    ).fetchall()
    return [r[0] for r in rows]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(reject_candidates, min_size=1, max_size=40))
def test_sql_rejects_only_what_email_validator_rejects(fast_path: duckdb.DuckDBPyConnection, batch: list[str]) -> None:
    for address in sql_rejects(fast_path, batch):
        email, reason = check_email(address)
        assert email is None and reason, f"SQL rejected {address!r}, email-validator accepts it as {email!r}"


def test_sql_rejects_the_common_mistakes(fast_path: duckdb.DuckDBPyConnection) -> None:
    plain_mistakes = [
        "no-at-sign",
        "a@b@c.com",
        "@example.com",
        "user @example.com",
        "user..x@example.com",
        ".user@example.com",
        "user.@example.com",
        "user@.example.com",
        "user@example..com",
        "user@example.com.",
        "jöhn@example.com",
        "John <john@example.com>",
        "user@localhost",
        "user@example",
        "user@-example.com",
        "user@example-.com",
        "user@exa_mple.com",
        "user@example.test",
        "",
        "n/a",
    ]
    assert sql_rejects(fast_path, plain_mistakes) == plain_mistakes
    # Left to email-validator: what IDNA may map, what check_email strips, and anything unusual.
    undecided = ["user@bücher.de", "user@example。com", "\tuser@example.com", "user@ab--cd.com", "\t"]
    assert sql_rejects(fast_path, undecided) == []


def test_every_tier_agrees_on_a_mixed_file(tmp_path: Path) -> None:
    # Duplicates across the tiers: a Python-validated address first, its fast-path twin later, and back.
    emails = [
        "u@ｅｘａｍｐｌｅ.com",  # 1 kept (email-validator maps the full-width domain)
        "U@example.com",  # 2 duplicate of 1
        "v@example.com",  # 3 kept
        "v@ｅｘａｍｐｌｅ.com",  # 4 duplicate of 3
        "\tw@example.com\t",  # 5 kept (check_email strips tabs)
        "w@example.com",  # 6 duplicate of 5
        "bad@@example.com",  # 7 invalid (SQL)
        "x@bücher.de",  # 8 kept
    ]
    db = prepare_emails(tmp_path, emails)
    assert fetch(db, "SELECT source_row, email FROM audience ORDER BY 1") == [
        (1, "u@example.com"),
        (3, "v@example.com"),
        (5, "w@example.com"),
        (8, "x@xn--bcher-kva.de"),
    ]
    assert fetch(db, "SELECT source_row, reason FROM rejected ORDER BY 1") == [
        (2, "duplicate of row 1"),
        (4, "duplicate of row 3"),
        (6, "duplicate of row 5"),
        (7, check_email("bad@@example.com")[1]),
    ]


idn_labels = st.text(alphabet="abcü-ßé。．ﬁ" + string.digits, min_size=1, max_size=25)
cached_candidates = st.one_of(
    st.builds(
        lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
        st.one_of(locals_, st.just("a" * 64), st.just("a" * 65)),
        st.lists(idn_labels, min_size=1, max_size=4),
        st.sampled_from(["de", "com", "test", "xn--p1ai", "рф", "c0m", ""]),
    ),
    reject_candidates,
)


@settings(max_examples=500, deadline=None)
@given(st.lists(cached_candidates, min_size=1, max_size=30))
def test_domain_verdicts_answer_as_check_email(batch: list[str]) -> None:
    verdicts = DomainVerdicts()
    for address in batch + batch:  # the second time from the cache
        assert verdicts.check(address) == check_email(address), address


# --- nothing the tool accepts is refused by ActiveCampaign (the emulator's validator) ---------------------

tld_parts = st.one_of(
    st.from_regex(r"[A-Za-z0-9-]{1,6}", fullmatch=True),
    st.sampled_from(["c", "C", "co1", "c0m", "c-m", "xn--p1ai", "XN--P1AI", "рф", "com", "museum", "ü", "ß"]),
    st.text(alphabet="abcü1-ß.", min_size=1, max_size=6),
)
ac_candidates = st.one_of(
    st.builds(
        lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
        st.one_of(locals_, st.just("a" * 64)),
        st.lists(st.one_of(labels, idn_labels), min_size=1, max_size=3),
        tld_parts,
    ),
    cached_candidates,
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ac_candidates, min_size=1, max_size=30))
def test_whatever_the_tool_accepts_activecampaign_accepts(
    fast_path: duckdb.DuckDBPyConnection, batch: list[str]
) -> None:
    verdicts = DomainVerdicts()
    for address in batch:
        email, reason = check_email(address)
        if email is not None:
            assert is_valid_email(email), f"the tool sends {email!r} (from {address!r}); the emulator refuses it"
        else:
            assert reason
        assert verdicts.check(address) == (email, reason)
    # The SQL fast path sends the address lower-cased as it is.
    for address in fast_accepts(fast_path, batch):
        assert is_valid_email(address.lower()), f"the fast path accepts {address!r}; the emulator refuses it"


def test_the_differences_found_are_rejected_rows_with_a_reason(tmp_path: Path) -> None:
    emails = ["ok@example.com", "one@example.c", "idn@пример.рф", "digit@example.c0m"]
    db = prepare_emails(tmp_path, emails)
    assert fetch(db, "SELECT email FROM audience") == [("ok@example.com",)]
    reasons = dict(fetch(db, "SELECT email, reason FROM rejected"))
    assert reasons == {address: check_email(address)[1] for address in emails[1:]}
    starts = ("The top-level domain", "ActiveCampaign does not take")
    assert all(reason.startswith(starts) for reason in reasons.values())
