"""The syncs file: every mistake found before anything runs, one line each, naming the sync and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ac_sync.engine.errors import ConfigError
from ac_sync.engine.syncs import load_syncs, parse_syncs


def problems(document: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_syncs(document, "syncs.yaml")
    return str(caught.value).splitlines()


def test_a_good_file_takes_defaults_and_keeps_its_order() -> None:
    parsed = parse_syncs(
        {
            "defaults": {"group": "Marketing", "mode": "mirror"},
            "syncs": [
                {"name": "vip", "audience": "vip.csv", "list": "VIP"},
                {"name": "news", "audience": "SELECT 1 AS email", "list": "News", "mode": "upsert"},
            ],
        },
        "syncs.yaml",
    )
    assert [s.name for s in parsed.syncs] == ["vip", "news"]
    assert [(s.group, s.mode) for s in parsed.syncs] == [("Marketing", "mirror"), ("Marketing", "upsert")]


def test_every_mistake_is_its_own_line() -> None:
    lines = problems(
        {
            "syncs": [
                {"name": "vip", "audience": "vip.csv", "list": "VIP", "group": "G", "mode": "merge"},
                {"name": "news", "list": "News", "group": "G", "colour": "red"},
                {"name": "bad name!", "audience": "a.csv", "list": "X", "group": "G"},
                {"name": "both", "audience": "a.csv", "list": "Y", "list_template": "{campaign_name}", "group": "G"},
            ]
        }
    )
    assert len(lines) == 5, lines
    assert any("sync 1 (vip), mode" in line and "'upsert' or 'mirror'" in line for line in lines)
    assert any("sync 2 (news), audience: missing" in line for line in lines)
    assert any("sync 2 (news), colour: not a sync key" in line for line in lines)
    assert any("sync 3 (bad name!), name" in line for line in lines)
    assert any("sync 4 (both)" in line and "either `list` or `list_template`" in line for line in lines)
    assert all(line.startswith("syncs.yaml: ") for line in lines)


def test_names_and_lists_are_each_one_syncs() -> None:
    lines = problems(
        {
            "defaults": {"group": "G"},
            "syncs": [
                {"name": "a", "audience": "a.csv", "list": "L"},
                {"name": "a", "audience": "b.csv", "list": "M"},
                {"name": "c", "audience": "c.csv", "list": "L"},
            ],
        }
    )
    assert lines == [
        "syncs.yaml: sync 2 (a): the name is already sync 1's",
        "syncs.yaml: sync c: list 'L' is also sync a's (one a list)",
    ]


@pytest.mark.parametrize(
    ("sync", "says"),
    [
        ({"list_template": "{campaign_name} – {arm}"}, "unknown {arm}"),
        ({"list_template": "{campaign_name} – {sub_audience}", "sub_audience": "arm"}, "set `campaign`"),
        ({"list_template": "{campaign_name}", "campaign": "Spring", "sub_audience": "arm"}, "go together"),
        ({"list": "L", "sub_audience": "arm"}, "needs a list_template"),
        ({"list": "L", "max_removals": "lots"}, "N or P%"),
    ],
)
def test_templates_and_limits_are_checked(sync: dict[str, str], says: str) -> None:
    (line,) = problems({"syncs": [{"name": "s", "audience": "a.csv", "group": "G", **sync}]})
    assert says in line and "sync 1 (s)" in line


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (None, "expected `syncs:`"),
        ({"syncs": []}, "at least one sync"),
        ({"syncs": [{"name": "a"}], "defaults": ["x"]}, "`defaults` must map"),
        ({"syncs": [{"name": "a", "audience": "a", "list": "L", "group": "G"}], "acount": {}}, "not a top-level key"),
    ],
)
def test_the_files_shape_is_checked(document: object, says: str) -> None:
    assert says in problems(document)[0]


def test_a_campaign_names_one_list_per_sub_audience() -> None:
    (sync,) = parse_syncs(
        {
            "syncs": [
                {
                    "name": "spring",
                    "audience": "s.csv",
                    "group": "G",
                    "campaign": "Spring",
                    "sub_audience": "arm",
                    "list_template": "{campaign_name} – {sub_audience}",
                }
            ]
        },
        "f",
    ).syncs
    assert sync.list_name("treatment") == "Spring – treatment"


def test_audience_files_are_found_beside_the_syncs_file(tmp_path: Path) -> None:
    (tmp_path / "vip.csv").write_text("email\n")
    file = tmp_path / "syncs.yaml"
    file.write_text(
        "syncs:\n"
        "  - {name: v, audience: vip.csv, list: V, group: G}\n"
        "  - {name: q, audience: SELECT 1, list: Q, group: G}\n"
    )
    parsed = load_syncs(file)
    assert parsed.syncs[0].audience == str(tmp_path / "vip.csv")
    assert parsed.syncs[1].audience == "SELECT 1"
    assert parsed.selected(["q"]) == [parsed.syncs[1]]
    with pytest.raises(ConfigError, match="--only 'x': no sync of that name"):
        parsed.selected(["x"])


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="syncs file not found"):
        load_syncs(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("syncs: [\n")
    with pytest.raises(ConfigError, match="cannot read the syncs file") as caught:
        load_syncs(tmp_path / "bad.yaml")
    assert "\n" not in str(caught.value)
