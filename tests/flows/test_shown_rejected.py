"""The rejected rows as Prefect keeps them: masked emails beside a digest, no refused value, no address quoted."""

from __future__ import annotations

from ac_sync.engine.privacy import Digester
from ac_sync.flows.records import shown_rejected

ROWS = [
    {
        "row": 2,
        "email": "Jane@Example.com",
        "column_name": None,
        "value": None,
        "reason": "rejected by ActiveCampaign: jane@example.com is on the exclusion list",
    },
    {
        "row": 3,
        "email": "ann@example.org",
        "column_name": "PLAN",
        "value": "Gold",
        "reason": "'Gold' is not an option of PLAN (dropdown) (options: Free, Pro)",
    },
]


def test_restricted_rows_hold_no_email_and_no_value() -> None:
    digest = Digester()
    shown = shown_rejected([dict(r) for r in ROWS], digest, personal_data=False)
    text = repr(shown).lower()
    assert "jane@" not in text and "ann@" not in text and "gold" not in text
    assert shown[0]["email"] == "J•••@E•••.com" and shown[0]["digest"] == digest("jane@example.com")
    assert shown[0]["reason"] == "rejected by ActiveCampaign: J•••@E•••.com is on the exclusion list"
    assert shown[1]["reason"] == "the value is not an option of PLAN (dropdown) (options: Free, Pro)"
    assert "value" not in shown[1]


def test_a_team_that_allows_it_sees_the_rows_as_they_are() -> None:
    assert shown_rejected([dict(r) for r in ROWS], Digester(), personal_data=True) == ROWS
