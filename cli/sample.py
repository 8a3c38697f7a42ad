"""A deterministic sample audience: the demo's, the tests' and the benchmarks' data.

It mixes what real exports hold: valid addresses, ~3 % malformed ones, the same person twice with other
case or spaces, and names with commas, quotes and newlines.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

MALFORMED = [
    "no-at-sign{i}.example.com",
    "a{i}@b@c.example.com",
    "user{i}@",
    "@example{i}.com",
    "user {i}@example.com",
    "user{i}@exa mple.com",
    "user..{i}@example.com",
    "user{i}@example",
    "user{i}@-bad-.example.com",
    ".leading{i}@example.com",
]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "O'Neil",
    'Dijkstra "EWD"',
    "Liskov, Jr.",
    "Knuth",
    "Allen",
    "Perlman",
]
DOMAINS = ["example.com", "example.org", "mail.example.net", "shop.example.co.uk"]
COMPANIES = ["Initech", "Globex", "Umbrella", "Hooli", "Acme Corp"]
PLANS = ["Free", "pro", "Team", "Gold"]  # "pro" matches the option "Pro"; "Gold" is no option of the demo's field
INTERESTS = ["news", "events", "news; offers", "offers, events", ""]
# The spreadsheet-style header of the custom columns, and the custom fields the demo account gets for them.
CUSTOM_COLUMNS = ["Company", "Lifetime Value", "Signup Date", "Plan", "Interests"]
DEMO_FIELDS = [
    {"title": "Company", "type": "text", "perstag": "COMPANY"},
    {"title": "Lifetime Value", "type": "text", "perstag": "LIFETIME_VALUE"},
    {"title": "Signup Date", "type": "date", "perstag": "SIGNUP_DATE"},
    {"title": "Plan", "type": "dropdown", "perstag": "PLAN", "options": ["Free", "Pro", "Team"]},
    {"title": "Interests", "type": "listbox", "perstag": "INTERESTS", "options": ["news", "events", "offers"]},
]


@dataclass(frozen=True)
class SampleAudience:
    path: Path
    rows: int
    valid: frozenset[str]  # normalised emails the list must end up holding
    invalid: int
    duplicates: int


def email_for(i: int, salt: str = "") -> str:
    return f"person{i}{salt}@{DOMAINS[i % len(DOMAINS)]}"


def write_sample(
    path: Path,
    contacts: int,
    *,
    seed: int = 7,
    malformed_ratio: float = 0.03,
    duplicate_ratio: float = 0.02,
    salt: str = "",
    custom: bool = False,
) -> SampleAudience:
    """Write a CSV of about `contacts` rows (email, first_name, last_name, phone, tags), with `custom` also the
    CUSTOM_COLUMNS of a marketer's export (some of its plan values are no option of the demo's field)."""
    rnd = random.Random(seed)
    valid: list[str] = []
    invalid = duplicates = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["email", "first_name", "last_name", "phone", "tags", *(CUSTOM_COLUMNS if custom else [])])
        blank = [""] * (len(CUSTOM_COLUMNS) if custom else 0)
        for i in range(contacts):
            roll = rnd.random()
            if roll < malformed_ratio:
                out.writerow([MALFORMED[i % len(MALFORMED)].format(i=f"{i}{salt}"), "Bad", "Row", "", "", *blank])
                invalid += 1
                continue
            if roll < malformed_ratio + duplicate_ratio and valid:
                twin = rnd.choice(valid)
                out.writerow([f"  {twin.upper()} ", "Twin", "Row", "", "", *blank])
                duplicates += 1
                continue
            email = email_for(i, salt)
            valid.append(email)
            first = FIRST[i % len(FIRST)]
            last = LAST[i % len(LAST)] + ("\nsecond line" if i % 97 == 0 else "")
            phone = f"0{rnd.randrange(10**8, 10**9)}" if i % 3 else ""
            tags = "vip, spring" if i % 5 == 0 else ""
            extra = (
                [
                    COMPANIES[i % len(COMPANIES)],
                    f"{(i * 37) % 5000}.{i % 100:02d}",
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    PLANS[i % len(PLANS)],
                    INTERESTS[i % len(INTERESTS)],
                ]
                if custom
                else []
            )
            out.writerow([email, first, last, phone, tags, *extra])
    return SampleAudience(path, contacts, frozenset(valid), invalid, duplicates)
