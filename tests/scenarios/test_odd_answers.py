"""The sync's own writes answered oddly — an HTML page, an empty body, `{}`, a 500 after the write acted, a lost
or late answer — end with every list exact, no duplicate, and no traceback; a write that never answers
readably is a playbook that says it may have happened."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from ac_sync.activecampaign.emulator import EmulatorProcess
from tests.scenarios.test_bad_input import ac_sync
from tests.syncing import Admin, sync

HTML = "<html><body>Down for maintenance</body></html>"
ANSWERS: dict[str, dict[str, Any]] = {
    "html": {"status": 200, "body": HTML, "content_type": "text/html", "after_effect": True},
    "empty": {"status": 200, "body": "", "after_effect": True},
    "braces": {"status": 200, "body": {}, "after_effect": True},
    "500-after": {"status": 500, "body": {"message": "Internal error"}, "after_effect": True},
    "dropped-after": {"drop_after_effect": True},
    "late": {"delay_s": 2.5, "after_effect": True},
}
# Every endpoint a first sync of 600 contacts writes to.
WRITES = {
    "list": "/lists$",
    "link": "/listGroups$",
    "bulk": "/import/bulk_import$",
}
PEOPLE = [f"p{i}@example.com" for i in range(600)]


def audience(path: Path) -> str:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([["email", "first_name"], *([e, e[:3]] for e in PEOPLE)])
    return str(path)


# Through the whole flow, the answers that take different paths (unreadable, a 5xx after acting, a lost and a
# late answer); the client-level matrix, test_uncertain_writes.py, crosses every create with every answer.
CASES = [("list", a) for a in ("html", "500-after", "dropped-after", "late")] + [
    ("link", "dropped-after"),
    ("bulk", "html"),
    ("bulk", "late"),
]


@pytest.mark.parametrize(("write", "answer"), CASES, ids=[f"{w}-{a}" for w, a in CASES])
async def test_an_odd_answer_to_a_write_leaves_the_list_exact(
    sync_env: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str, answer: str
) -> None:
    monkeypatch.setenv("AC_SYNC_REQUEST_TIMEOUT_S", "1")
    admin = Admin(sync_env.base_url)
    admin.post("/faults", {"rules": [{"method": "POST", "path": WRITES[write], "times": 1, **ANSWERS[answer]}]})
    code, summary = await sync(audience=audience(tmp_path / "a.csv"), list_name="Odd", group_name="Admin")
    assert code == 0, summary
    lists = admin.state()["lists"]
    assert [lst["name"] for lst in lists] == ["Odd"]
    assert admin.members("Odd") == set(PEOPLE)
    assert summary["subscribed"] + summary.get("confirmed_earlier", 0) == len(PEOPLE), summary
    # At most the one batch whose answer was lost is sent again.
    assert admin.accepted_bulk() <= 3 + 1


def test_a_list_create_that_never_answers_readably_is_a_playbook(sync_env: EmulatorProcess, tmp_path: Path) -> None:
    admin = Admin(sync_env.base_url)
    admin.post(
        "/faults",
        {"rules": [{"method": "POST", "path": "/lists$", "status": 200, "body": HTML, "content_type": "text/html"}]},
    )
    proc = ac_sync(
        "run", "--audience", audience(tmp_path / "a.csv"), "--list", "Odd", "--group", "Admin", "--json",
        "--pause-timeout", "0", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]
    assert "WRITE_UNCONFIRMED" in proc.stderr and "may still appear" in proc.stderr, proc.stderr[-3000:]
    assert admin.state()["lists"] == [] and admin.accepted_bulk() == 0
    # The next run, with the proxy gone, makes the list once.
    admin.post("/faults", {"rules": []})
    again = ac_sync(
        "run", "--audience", str(tmp_path / "a.csv"), "--list", "Odd", "--group", "Admin", "--json", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert [lst["name"] for lst in admin.state()["lists"]] == ["Odd"] and admin.members("Odd") == set(PEOPLE)


CONTACT_API = {"contact-sync": "/contact/sync$", "contact-lists": "/contactLists$"}
CONTACT_ANSWERS = ("braces", "dropped-after")


@pytest.mark.parametrize("answer", CONTACT_ANSWERS, ids=list(CONTACT_ANSWERS))
@pytest.mark.parametrize("write", CONTACT_API, ids=list(CONTACT_API))
async def test_an_odd_answer_to_a_contact_api_write_leaves_the_list_exact(
    sync_env: EmulatorProcess, tmp_path: Path, write: str, answer: str
) -> None:
    """A handful of changes goes through the contact API (idempotent writes, sent again after an answer that
    cannot be trusted): the renamed contacts end renamed, the removed ones removed, each once."""
    admin = Admin(sync_env.base_url)
    people = PEOPLE[:30]
    path = tmp_path / "a.csv"

    def audience(rows: list[tuple[str, str]]) -> None:
        with path.open("w", newline="") as fh:
            csv.writer(fh).writerows([["email", "first_name"], *rows])

    audience([(e, e[:3]) for e in people])
    params = {"audience": str(path), "list_name": "Few", "group_name": "Admin", "mode": "mirror"}
    code, summary = await sync(**params)
    assert code == 0, summary
    renamed, removed = people[:3], people[3:5]
    audience([(e, "Renamed" if e in renamed else e[:3]) for e in people if e not in removed])
    admin.post("/faults", {"rules": [{"method": "POST", "path": CONTACT_API[write], "times": 1, **ANSWERS[answer]}]})
    code, summary = await sync(**params, max_removals="10%")
    assert code == 0, summary
    assert admin.members("Few") == set(people) - set(removed)
    assert admin.members("Few", status=2) == set(removed)
    assert all(admin.contact(e)["first_name"] == "Renamed" for e in renamed)
    assert (summary["updated"], summary["removed"]) == (3, 2), summary
    (rule,) = admin.http.get("/faults").json()["rules"]
    assert rule["fired"] == 1  # the odd answer was given: these writes went through the contact API
