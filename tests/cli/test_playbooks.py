"""Every playbook, read where it is read: filled in, rendered for the terminal, with advice that fits the run."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console
from rich.markdown import Markdown

from ac_sync.resolutions.failures import TYPED, example
from ac_sync.resolutions.forms import check, form_for
from ac_sync.resolutions.playbooks import PLAYBOOKS, Where, render, suggested, with_options

RUN_ID = "5f1c7a52-0c4e-4d0b-9a43-3e2b8c1f0a11"
COMMAND = (
    "ac-sync",
    "run",
    "--audience",
    "vip.csv",
    "--list",
    "Spring VIP",
    "--group",
    "marketing ",
    "--mode",
    "mirror",
)
DEADLINE = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)

# Each code with the context its raising code gives it (engine/destination.py, the client, the orchestration).
CONTEXTS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "INVALID_CREDENTIALS": [
        ("Forbidden", "validate-credentials", {"api_url": "https://acme.api-us1.com/api/3"}),
        ("Forbidden", "upload-contacts", {"list_id": 12}),
    ],
    "API_URL_INVALID": [
        ("cannot connect to 127.0.0.1:9", "validate-credentials", {"api_url": "http://127.0.0.1:9/api/3"}),
        ("the answer is not the API", "ensure-group", {"group_name": "Marketing"}),
    ],
    "PAYMENT_REQUIRED": [("Payment Required", "validate-credentials", {"api_url": "https://acme.api-us1.com"})],
    "INVALID_GROUP_NAME": [
        (
            "no user group is titled 'marketing '. Did you mean 'Marketing'?",
            "ensure-group",
            {"group_name": "marketing ", "suggestions": ["Marketing"], "available_groups": ["Admin", "Marketing"]},
        ),
        (
            "no user group is titled 'Growth'.",
            "ensure-group",
            {"group_name": "Growth", "suggestions": [], "available_groups": ["Admin", "Sales_Team"]},
        ),
    ],
    "AMBIGUOUS_LIST_NAME": [
        ("2 lists are named 'Spring'", "ensure-list", {"list_name": "Spring", "group_id": 3, "list_ids": [4, 9]})
    ],
    "LIST_PERMISSION_DENIED": [
        ("Forbidden", "ensure-list", {"list_name": "Spring", "group_id": 5, "right": "add a list (pgListAdd)"}),
        ("Forbidden", "ensure-list", {"list_name": "Spring", "right": "link a list to a group (pgListEdit)"}),
    ],
    "STATE_MISMATCH": [
        ("the state at .ac-sync/state names list 7", "ensure-list", {"list_name": "Spring", "list_id": 9}),
    ],
    "LIST_GONE": [
        ("list 12 is gone (404)", "upload-contacts", {"list_id": 12, "list_name": "Spring VIP"}),
        ("list 12 is gone (404)", "upload-contacts", {"list_id": 12}),
    ],
    "MISSING_PERMISSION": [
        ("You do not have permission", "ensure-group", {"group_name": "Marketing", "right": "read the user groups"}),
        ("Forbidden", "upload-contacts", {"list_id": 4, "right": "import contacts (pgContactImport)"}),
    ],
    "RATE_LIMIT_EXHAUSTED": [("throttled 6 times", "ensure-group", {"group_name": "Marketing"})],
    "AMBIGUOUS_FIELD": [
        (
            "column 'Plan' matches 2 fields",
            "upload-contacts",
            {"column": "Plan", "wanted": "Plan", "candidates": ["PLAN (id 4)", "PLAN_NAME (id 7)"], "list_id": 3},
        )
    ],
    "UNKNOWN_FIELD": [
        ("no field REGION", "upload-contacts", {"column": "Region", "wanted": "REGION", "candidates": [], "list_id": 3})
    ],
    "TOO_MANY_REMOVALS": [
        (
            "the sync would unsubscribe 40 contacts, over the limit of 1",
            "upload-contacts",
            {"list_id": 12, "removals": 40, "limit": 1},
        )
    ],
}

KINDS = {
    "in-process, paused, no UI": (True, Where(command=COMMAND, deadline=DEADLINE)),
    "in-process, stopped, no UI": (False, Where(command=COMMAND)),
    "in-process, paused, UI": (
        True,
        Where(command=COMMAND, ui_url="http://prefect:4200/runs/flow-run/x", deadline=DEADLINE),
    ),
    "deployment, paused": (
        True,
        Where(deployment=True, ui_url="http://prefect:4200/runs/flow-run/x", deadline=DEADLINE),
    ),
    "deployment, stopped": (False, Where(deployment=True, ui_url="http://prefect:4200/runs/flow-run/x")),
}


def cases() -> list[Any]:
    return [
        pytest.param(code, n, kind, id=f"{code}-{n}-{kind}")
        for code, contexts in CONTEXTS.items()
        for n in range(len(contexts))
        for kind in KINDS
    ]


def test_every_code_has_contexts_here() -> None:
    assert set(CONTEXTS) == set(TYPED) == set(PLAYBOOKS)


def terminal_text(markdown: str) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(Markdown(markdown))
    return out.getvalue()


@pytest.mark.parametrize(("code", "n", "kind"), cases())
def test_playbook_is_filled_and_fits_the_run(code: str, n: int, kind: str) -> None:
    message, step, context = CONTEXTS[code][n]
    failure = example(code, message, step=step, **context)
    paused, where = KINDS[kind]
    text = render(failure, RUN_ID, paused=paused, where=where)
    shown = terminal_text(text)

    assert not re.search(r"<[a-z_]+>", text), text  # every placeholder filled
    assert "None" not in text and "None" not in shown, text
    assert "**" not in shown, shown  # bold rendered, not printed
    book = PLAYBOOKS[code]
    if "{step_text}" in book.what:
        assert step in text
    if paused:
        for action in book.actions:
            assert f"ac-sync resolve {RUN_ID} --action {action.name}" in text
        assert "2026-12-01 13:30:00 UTC" in text  # until when it waits
        assert "has stopped" not in text
    else:
        assert "ac-sync resolve" not in text  # nothing to resolve: the run has stopped
    if where.ui_url:
        assert where.ui_url in text
    else:
        assert "Prefect UI" not in text and "Resume" not in text
    if where.deployment:
        assert ("Retry" in text) is (not paused)
    else:
        assert "Retry" not in text  # only a deployment's run has one
    if not paused and not where.deployment:
        assert "ac-sync run --audience vip.csv --list 'Spring VIP' --group 'marketing ' --mode mirror" in text


def test_group_name_with_a_space_renders_quoted_and_the_suggestion_is_in_the_commands() -> None:
    message, step, context = CONTEXTS["INVALID_GROUP_NAME"][0]
    failure = example("INVALID_GROUP_NAME", message, step=step, **context)
    paused = render(failure, RUN_ID, paused=True, where=Where(command=COMMAND, deadline=DEADLINE))
    assert 'No user group is titled **"marketing "**' in paused
    assert "Did you mean 'Marketing'?" in paused
    assert f"ac-sync resolve {RUN_ID} --action use-group --set group_name=Marketing" in paused
    assert '"marketing "' in terminal_text(paused)
    stopped = render(failure, RUN_ID, where=Where(command=COMMAND))
    assert "ac-sync run --audience vip.csv --list 'Spring VIP' --mode mirror --group Marketing" in stopped


def test_no_close_group_lists_the_account_groups() -> None:
    message, step, context = CONTEXTS["INVALID_GROUP_NAME"][1]
    text = render(example("INVALID_GROUP_NAME", message, step=step, **context), RUN_ID, paused=True)
    assert "the account's groups are 'Admin', 'Sales\\_Team'" in text
    assert "'Sales_Team'" in terminal_text(text)
    assert "--set group_name=GROUP_NAME" in text  # nothing to suggest: the input named, not a <placeholder>


def test_too_many_removals_says_the_counts_and_max_removals() -> None:
    message, step, context = CONTEXTS["TOO_MANY_REMOVALS"][0]
    failure = example("TOO_MANY_REMOVALS", message, step=step, **context)
    text = render(failure, RUN_ID, where=Where(command=COMMAND))
    assert "**40** contacts from the list with id 12, over the limit of 1" in text
    assert "--max-removals" in text
    assert (
        "ac-sync run --audience vip.csv --list 'Spring VIP' --group 'marketing ' --mode mirror --max-removals 40"
        in text
    )


def test_pause_timeout_zero_offers_no_actions_but_says_how_to_get_them() -> None:
    message, step, context = CONTEXTS["INVALID_GROUP_NAME"][0]
    failure = example("INVALID_GROUP_NAME", message, step=step, **context)
    text = render(failure, RUN_ID, where=Where(command=(*COMMAND, "--pause-timeout", "0")))
    assert "has stopped" in text and "ac-sync resolve" not in text
    assert "without `--pause-timeout 0`" in text and "`create-group`" in text


def test_invalid_credentials_explains_the_exported_variable_trap() -> None:
    message, step, context = CONTEXTS["INVALID_CREDENTIALS"][0]
    text = render(example("INVALID_CREDENTIALS", message, step=step, **context), RUN_ID, paused=True)
    assert "exported" in text and "cannot get a new environment" in text
    assert "--credentials-block" in text and "fresh one" in text


def test_ambiguous_list_and_field_commands_name_each_candidate() -> None:
    message, step, context = CONTEXTS["AMBIGUOUS_LIST_NAME"][0]
    text = render(example("AMBIGUOUS_LIST_NAME", message, step=step, **context), RUN_ID, paused=True)
    assert "--action use-list --set list_id=4" in text and "--action use-list --set list_id=9" in text
    message, step, context = CONTEXTS["AMBIGUOUS_FIELD"][0]
    failure = example("AMBIGUOUS_FIELD", message, step=step, **context)
    assert "--action use-field --set field=7" in render(failure, RUN_ID, paused=True)
    assert "--field Plan=4" in render(failure, RUN_ID, where=Where(command=COMMAND))


def test_with_options_replaces_a_flag_and_adds_a_field() -> None:
    words = ("ac-sync", "run", "--group=Old", "--field", "A=x")
    assert with_options(words, (("--group", "New"),)) == ("ac-sync", "run", "--field", "A=x", "--group", "New")
    assert with_options(words, (("--field", "B=-"),))[-2:] == ("--field", "B=-")


def test_form_opens_with_the_suggestion_and_keeps_its_constraints() -> None:
    message, step, context = CONTEXTS["INVALID_GROUP_NAME"][0]
    failure = example("INVALID_GROUP_NAME", message, step=step, **context)
    defaults = suggested(failure)
    assert defaults == {"action": "use-group", "group_name": "Marketing"}
    form = form_for("INVALID_GROUP_NAME", defaults)
    schema = form.model_json_schema()
    assert schema["properties"]["action"]["default"] == "use-group"
    group = schema["properties"]["group_name"]
    assert group["default"] == "Marketing"
    assert any(option.get("pattern") == r"\S" for option in group.get("anyOf", [group]))
    with pytest.raises(ValidationError):
        form(action="use-group", group_name="   ")
    assert form().action == "use-group" and check("INVALID_GROUP_NAME", form().model_dump()) is None
    # Without a suggestion: no default action, the form asks.
    assert form_for("INVALID_GROUP_NAME").model_json_schema()["required"] == ["action"]


def test_removal_and_state_forms_preselect_the_safe_action() -> None:
    for code in ("TOO_MANY_REMOVALS", "STATE_MISMATCH"):
        message, step, context = CONTEXTS[code][0]
        assert suggested(example(code, message, step=step, **context))["action"] == "abort"


def test_deadline_is_shown_in_utc() -> None:
    message, step, context = CONTEXTS["PAYMENT_REQUIRED"][0]
    later = datetime.now(UTC) + timedelta(hours=1)
    text = render(example("PAYMENT_REQUIRED", message, step=step, **context), RUN_ID, paused=True,
                  where=Where(deadline=later))  # fmt: skip
    assert later.strftime("%Y-%m-%d %H:%M:%S UTC") in text
