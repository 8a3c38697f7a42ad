"""The plan decides per field against what the state says the list holds: empties, clears, tags, migrations."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ac_sync.engine.audience import prepare_audience
from ac_sync.engine.audience.fields import Column, legacy_fields_hash
from ac_sync.engine.audience.mapping import AccountField, ColumnChoice, map_columns
from ac_sync.engine.upload.planner import TAGS_MIRROR, PlanRules, build_plan, load_unsubscribed, rows_to_send
from ac_sync.engine.upload.state import SUBSCRIBED, SyncState

FIELDS = [AccountField(1, "Company", "COMPANY"), AccountField(2, "Plan", "PLAN", "dropdown", ("Free", "Pro"))]


class Audience:
    """An audience CSV prepared with a mapping, and a state as a previous sync of it would leave."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.state = SyncState(str(tmp_path / "state"), "example.com/list-1")
        self.runs = 0

    def prepare(
        self, header: str, rows: list[str], **mapping_options: object
    ) -> tuple[duckdb.DuckDBPyConnection, PlanRules]:
        self.runs += 1
        path = self.tmp / f"run{self.runs}.csv"
        path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
        columns = [Column(n, "VARCHAR", f"c{i}") for i, n in enumerate(header.split(","))]
        choices = mapping_options.pop("choices", None)
        mapping = map_columns(columns, FIELDS, choices, clear_empty=bool(mapping_options.pop("clear_empty", False)))
        db = self.tmp / f"run{self.runs}.duckdb"
        prepare_audience(str(path), db, mapping=mapping)
        con = duckdb.connect(str(db))
        load_unsubscribed(con, [])
        return con, PlanRules(mapping=mapping, **mapping_options)  # type: ignore[arg-type]

    def sync(self, header: str, rows: list[str], **options: object) -> dict[str, object]:
        """Plan, then record every write as confirmed (as the ledger would); answer the plan's counts."""
        con, rules = self.prepare(header, rows, **options)
        counts = build_plan(con, self.state, rules)
        self.state.checkpoint(
            (r.email, r.state_hash, SUBSCRIBED, r.sent_after()) for r in rows_to_send(con, rules.custom_ids)
        )
        con.close()
        return counts.as_dict()


HEADER = "email,first_name,Company,Plan,tags"


@pytest.fixture
def audience(tmp_path: Path) -> Audience:
    return Audience(tmp_path)


def test_an_unchanged_audience_writes_nothing_and_a_new_mapping_only_those_with_a_value(audience: Audience) -> None:
    assert audience.sync("email,first_name", ["a@x.com,Ann", "b@x.com,Bob"])["adds"] == 2
    counts = audience.sync("email,first_name", ["a@x.com,Ann", "b@x.com,Bob"])
    assert (counts["adds"], counts["updates"], counts["unchanged"]) == (0, 0, 2)
    # Company is mapped now; only Ann has a value for it.
    con, rules = audience.prepare("email,first_name,Company", ["a@x.com,Ann,Initech", "b@x.com,Bob,"])
    counts = build_plan(con, audience.state, rules).as_dict()
    assert (counts["updates"], counts["unchanged"], counts["rerecorded"]) == (1, 1, 0)
    assert [(r.email, r.fields) for r in rows_to_send(con, rules.custom_ids)] == [("a@x.com", {1: "Initech"})]


def test_an_emptied_cell_leaves_the_value_unless_the_column_clears(audience: Audience) -> None:
    audience.sync(HEADER, ["a@x.com,Ann,Initech,Pro,vip", "b@x.com,Bob,Globex,Free,"])
    con, rules = audience.prepare(HEADER, ["a@x.com,Ann,,Pro,vip", "b@x.com,,Globex,Free,"])
    counts = build_plan(con, audience.state, rules).as_dict()
    # Nothing to send: the list keeps Initech and Bob; the state records the new hashes only.
    assert (counts["updates"], counts["clears"], counts["rerecorded"], counts["unchanged"]) == (0, 0, 2, 2)
    assert list(rows_to_send(con, rules.custom_ids)) == []
    rerecord = dict(con.execute("SELECT email, sent FROM rerecord").fetchall())
    assert json.loads(rerecord["a@x.com"])["f1"] == "Initech"

    con, rules = audience.prepare(HEADER, ["a@x.com,Ann,,Pro,vip", "b@x.com,,Globex,Free,"], clear_empty=True)
    counts = build_plan(con, audience.state, rules).as_dict()
    assert (counts["updates"], counts["clears"]) == (2, 2)
    assert list(rows_to_send(con, rules.custom_ids)) == []  # clearing is the contact API's, not bulk import's
    cleared = dict(con.execute("SELECT email, cleared FROM contact_writes").fetchall())
    assert cleared == {"a@x.com": ["f1"], "b@x.com": ["first_name"]}


def test_tags_mirror_takes_off_only_tags_this_tool_added(audience: Audience) -> None:
    audience.sync(HEADER, ["a@x.com,Ann,,,VIP; spring", "b@x.com,Bob,,,news"])
    con, rules = audience.prepare(HEADER, ["a@x.com,Ann,,,vip", "b@x.com,Bob,,,news; Summer"], tags=TAGS_MIRROR)
    counts = build_plan(con, audience.state, rules).as_dict()
    assert counts["untags"] == 1
    assert con.execute("SELECT email, untag FROM contact_writes").fetchall() == [("a@x.com", ["spring"])]
    # A tag that only changed case is the same tag; a new one goes out in bulk.
    assert [(r.email, r.tags) for r in rows_to_send(con, rules.custom_ids)] == [("b@x.com", ["Summer", "news"])]
    con, rules = audience.prepare(HEADER, ["a@x.com,Ann,,,vip", "b@x.com,Bob,,,news; Summer"])
    assert build_plan(con, audience.state, rules).untags == 0  # --tags add never removes


def test_a_dropped_mapping_only_rerecords(audience: Audience) -> None:
    audience.sync(HEADER, ["a@x.com,Ann,Initech,Pro,"])
    con, rules = audience.prepare(HEADER, ["a@x.com,Ann,Initech,Pro,"], choices={"Company": ColumnChoice("-")})
    counts = build_plan(con, audience.state, rules).as_dict()
    assert (counts["updates"], counts["rerecorded"]) == (0, 1)


def test_a_v1_state_migrates_without_sending_anyone_again(audience: Audience) -> None:
    # What a v1 sync left: the v1 hash of names, phone and tags; nothing of what was sent.
    audience.state.checkpoint(
        [
            ("a@x.com", legacy_fields_hash("Ann", None, None, ["vip"]), SUBSCRIBED, None),
            ("b@x.com", legacy_fields_hash("Bob", None, None, []), SUBSCRIBED, None),
            ("c@x.com", legacy_fields_hash("Old name", None, None, []), SUBSCRIBED, None),
        ]
    )
    con, rules = audience.prepare(HEADER, ["a@x.com,Ann,,,vip", "b@x.com,Bob,Globex,,", "c@x.com,Cid,,,"])
    counts = build_plan(con, audience.state, rules).as_dict()
    # a: same as sent, re-recorded in the v2 form; b: sent again only for its new Company; c: changed.
    assert (counts["rerecorded"], counts["updates"], counts["adds"]) == (1, 2, 0)
    assert sorted(r.email for r in rows_to_send(con, rules.custom_ids)) == ["b@x.com", "c@x.com"]
    assert [e for (e,) in con.execute("SELECT email FROM rerecord").fetchall()] == ["a@x.com"]
