"""Playbooks: for each typed failure, what happened, how to fix it, and the actions that continue the run.

A playbook is rendered with the failure's context (step, list, group, ...) and never with the API key, and
with advice that fits the run it is read in (`Where`): the Prefect UI's form only where a UI shows the run,
its Retry only for a deployment's run, and otherwise the exact command to type.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ac_sync.engine.errors import FailureRecord
from ac_sync.resolutions.actions import (
    ABORT,
    APPROVE,
    CREATE_FIELD,
    CREATE_GROUP,
    FIND_LIST_AGAIN,
    IGNORE_COLUMN,
    RETRY,
    START_FRESH,
    USE_EXISTING_FIELD,
    USE_EXISTING_LIST,
    USE_FIELD,
    USE_GROUP,
    USE_LIST,
    Action,
)
from ac_sync.resolutions.failures import TYPED


@dataclass(frozen=True)
class Rerun:
    """Instead of an action: a fresh `ac-sync run` with these options changed does the same."""

    does: str
    options: tuple[tuple[str, str], ...]  # (flag, value): set (or, for --field, added)


@dataclass(frozen=True)
class Playbook:
    code: str
    title: str
    what: str  # what happened, in the operator's words; {placeholders} come from `_context`
    activecampaign_steps: list[str]
    tool_steps: list[str]
    actions: list[Action]
    reruns: Callable[[dict[str, Any]], list[Rerun]] = field(default=lambda ctx: [])
    # The action a form offers first, and its inputs, from the failure's context (default: retry).
    suggest: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda ctx: {"action": "retry"})

    def action(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)


@dataclass(frozen=True)
class Where:
    """The run a playbook is read about, so that its advice fits it."""

    deployment: bool = False  # a deployment's run: the UI has Retry; a waiting run is suspended
    ui_url: str | None = None  # the run's page in a Prefect UI, when a UI shows it
    command: tuple[str, ...] = ()  # the `ac-sync run ...` that started the run (and continues it)
    deadline: datetime | None = None  # when a waiting run stops waiting


_CREDENTIAL_TOOL_STEPS = [
    "Put the key where this run reads it: `AC_SYNC_API_KEY` in the environment or `.env` of the process that runs "
    "the flow, or the credentials block (`ac-sync credentials save NAME --api-url URL`, key from stdin).",
    "**The environment-variable trap:** a variable exported in the shell (or the service) that runs the flow wins "
    "over `.env`, and a running process cannot get a new environment. If `AC_SYNC_API_KEY` is exported there, "
    "fixing `.env` or exporting the new key in another shell and then choosing `retry` only pauses again with "
    "the old key. What works: a run started with `--credentials-block NAME` reloads the block on `retry` (save "
    "the new key into it first); otherwise stop this run (`abort`, or Ctrl-C) and start a fresh one from a shell "
    "that has the new key. A key kept only in `.env` (not exported) is re-read by `retry`.",
    "Continue with the `retry` action: the run reloads the credentials and re-runs the failed step.",
]


def _group_reruns(ctx: dict[str, Any]) -> list[Rerun]:
    return [Rerun(f"use the group {h!r}", (("--group", h),)) for h in ctx.get("suggestions") or []]


def _group_suggest(ctx: dict[str, Any]) -> dict[str, Any]:
    hints = ctx.get("suggestions") or []
    return {"action": "use-group", "group_name": hints[0]} if hints else {"action": "create-group"}


def _field_ids(ctx: dict[str, Any]) -> list[str]:
    """Field ids of the candidates ("PERSTAG (id 12)"): unambiguous where perstags and titles are not."""
    return [m.group(1) for c in ctx.get("candidates") or [] if (m := re.search(r"\(id (\d+)\)", str(c)))]


def _field_reruns(ctx: dict[str, Any]) -> list[Rerun]:
    column = str(ctx.get("column") or "")
    if not column:
        return []
    out = [Rerun(f"send {column!r} to field id {i}", (("--field", f"{column}={i}"),)) for i in _field_ids(ctx)]
    return [*out, Rerun(f"send {column!r} nowhere", (("--field", f"{column}=-"),))]


def _removal_reruns(ctx: dict[str, Any]) -> list[Rerun]:
    removals = ctx.get("removals")
    if removals is None:
        return []
    return [Rerun(f"allow these {removals} removals", (("--max-removals", str(removals)),))]


PLAYBOOKS: dict[str, Playbook] = {
    p.code: p
    for p in [
        Playbook(
            "INVALID_CREDENTIALS",
            "ActiveCampaign refused the API key",
            "ActiveCampaign answered 403 Forbidden to who-am-I in step {step_text}: the API key is missing, "
            "mistyped, revoked, or was rotated while the run was going. Completed steps and confirmed batches are "
            "kept.",
            [
                "Sign in to ActiveCampaign as the user whose group should see the list.",
                "Open Settings → Developer and copy the API key (or reset it, if it may have leaked).",
            ],
            _CREDENTIAL_TOOL_STEPS,
            [RETRY, ABORT],
        ),
        Playbook(
            "API_URL_INVALID",
            "The ActiveCampaign API URL is wrong or unreachable",
            "Step {step_text} could not reach ActiveCampaign's API at {api_url_text}: {message}",
            [
                "Open Settings → Developer in ActiveCampaign and copy the URL shown there "
                "(for example https://youraccount.api-us1.com); the host differs by region.",
            ],
            [
                "Set `AC_SYNC_API_URL` (environment or `.env`) or the credentials block's URL; HTTPS is required for "
                "any host but loopback, and the URL may end in /api/3 or not. An exported variable wins over `.env` "
                "and a running process keeps the environment it started with: after changing an exported "
                "`AC_SYNC_API_URL`, start a fresh run.",
                "Check that the machine running the flow can reach that host (proxy, firewall, DNS).",
                "Continue with `retry`.",
            ],
            [RETRY, ABORT],
        ),
        Playbook(
            "PAYMENT_REQUIRED",
            "ActiveCampaign reports a billing problem (402)",
            "ActiveCampaign answered 402 Payment Required in step {step_text}: the account's plan or payment needs "
            "attention before the API accepts more requests.",
            [
                "An account owner opens Settings → Billing in ActiveCampaign and resolves the payment or plan issue.",
                "If the audience outgrew the plan's contact limit, raise the limit or shrink the audience.",
            ],
            ["Continue with `retry` once ActiveCampaign accepts requests again."],
            [RETRY, ABORT],
        ),
        Playbook(
            "INVALID_GROUP_NAME",
            "No user group has that name",
            "No user group is titled {group_text} (titles must match exactly, case and spaces included). "
            "{suggestion_text}",
            [
                "In ActiveCampaign open Settings → Users → Groups and find the group whose users should see the list.",
                "Or create the group there (or let this tool create it with the `create-group` action).",
            ],
            [
                "Continue with `use-group` and the exact title, or `create-group`, or fix the name where the run "
                "gets it (`--group`, `AC_SYNC_GROUP_NAME`, or the deployment's parameters).",
            ],
            [USE_GROUP, CREATE_GROUP, RETRY, ABORT],
            reruns=_group_reruns,
            suggest=_group_suggest,
        ),
        Playbook(
            "AMBIGUOUS_LIST_NAME",
            "Several lists share the list name",
            "{count} lists are named {list_text} (ids {list_ids_text}). The tool will not guess which one the "
            "audience belongs in.",
            [
                "In ActiveCampaign open Contacts → Lists and decide which list is the audience's.",
                "Optionally rename or delete the others so later runs are unambiguous.",
            ],
            ["Continue with `use-list` and the chosen id, or `retry` after renaming the others."],
            [USE_LIST, RETRY, ABORT],
        ),
        Playbook(
            "LIST_PERMISSION_DENIED",
            "The key's user may not create or link the list",
            "ActiveCampaign answered 403 in step {step_text} for list {list_text} and {group_id_text}: the key is "
            "valid, but its user may not {right_text} ({message}).",
            [
                "Give the key's user's group the permission to add and edit lists (Settings → Users → Groups → "
                "Permissions), or use the key of a user who has it.",
                "Or create the list yourself, give the group access to it, and note its id.",
            ],
            ["Continue with `retry` after the permission change, or `use-list` with the id of a list you created."],
            [USE_EXISTING_LIST, RETRY, ABORT],
        ),
        Playbook(
            "STATE_MISMATCH",
            "The sync state was written for another list",
            "In step {step_text}: {message}. The tool will not trust a record of another list: it could skip "
            "contacts that were never sent to this one ({list_text}). Nothing has been written.",
            [
                "In ActiveCampaign check Contacts → Lists: is this the list the audience belongs in?",
            ],
            [
                "Continue with `start-fresh`: the old state is set aside (kept beside the new one, not deleted) "
                "and the list is synced as a first sync — bulk import never re-subscribes anyone who "
                "unsubscribed, so opt-outs stay out.",
                "Or `abort`, and point the run at the right list (`--list`) or the right state (`--state`).",
            ],
            [START_FRESH, RETRY, ABORT],
            suggest=lambda ctx: {"action": "abort"},
        ),
        Playbook(
            "LIST_GONE",
            "The list was deleted or replaced while the sync ran",
            "Just before reporting the run as completed, step {step_text} found that {message}. What this run "
            "sent went to a list that is no longer there, so the run is not completed.",
            [
                "In ActiveCampaign check Contacts → Lists (and whether the account was reset or restored).",
            ],
            [
                "Continue with `retry`: the run finds or creates {list_text} again (a new list starts with an "
                "empty sync state) and sends the audience to it; nobody who unsubscribed is re-subscribed.",
            ],
            [FIND_LIST_AGAIN, ABORT],
        ),
        Playbook(
            "MISSING_PERMISSION",
            "The key's user lacks a permission this sync needs",
            "In step {step_text} ActiveCampaign refused to let the key's user {right_text}: {message}. The key "
            "itself is valid (who-am-I answers); its user's group lacks the right. Nothing after this step has run.",
            [
                "In ActiveCampaign open Settings → Users → Groups, open the group of the key's user, and grant "
                "the permission (reading users and user groups needs the Admin group); or raise the group's "
                "limit if the message names one.",
                "Or use the key of a user in the Admin group.",
            ],
            [
                "Save the other key where the run reads it (`ac-sync credentials save NAME` for the credentials "
                "block, or `AC_SYNC_API_KEY`), then continue with `retry`: the run reloads the credentials. An "
                "exported `AC_SYNC_API_KEY` cannot change inside a running process: a run that reads it needs a "
                "fresh start after the change.",
            ],
            [RETRY, ABORT],
        ),
        Playbook(
            "RATE_LIMIT_EXHAUSTED",
            "The account stayed rate-limited past the retry budget",
            "Step {step_text} kept getting throttled (429, 503 or the bulk-import limit) after every retry. "
            "ActiveCampaign's limits are per account: another integration or sync is likely using the same budget. "
            "Confirmed batches are kept.",
            [
                "Check Settings → Developer and your other integrations for jobs hammering the API right now.",
            ],
            ["Pause or reschedule the other jobs, then continue with `retry`; confirmed batches are not re-sent."],
            [RETRY, ABORT],
        ),
        Playbook(
            "AMBIGUOUS_FIELD",
            "Several custom fields match one column",
            "Column {column_text} of the audience matches {candidate_count} custom fields by perstag or title: "
            "{candidates_text}. The tool will not guess which one gets its values. Nothing has been written.",
            [
                "In ActiveCampaign open Contacts → Fields and decide which field the column belongs in.",
                "Optionally rename one of them so that later runs are unambiguous.",
            ],
            [
                "Continue with `use-field` and the field's id, `ignore-column` to send the column nowhere, or map it "
                "for good with `--field` (or a `--mapping` file) in a fresh run.",
            ],
            [USE_FIELD, IGNORE_COLUMN, RETRY, ABORT],
            reruns=_field_reruns,
        ),
        Playbook(
            "UNKNOWN_FIELD",
            "A column is mapped to a custom field that does not exist",
            "Column {column_text} is mapped to {wanted_text}, but no custom field of the account has that perstag, "
            "title or id. Nothing has been written.",
            [
                "In ActiveCampaign open Contacts → Fields: find the field's perstag, or create the field there.",
            ],
            [
                "Continue with `use-field` and an existing field's perstag or id, `create-field` with its type "
                "(text, textarea, date, datetime, dropdown, radio, listbox, checkbox, hidden; a list type takes "
                "the column's values as its options), or `ignore-column`; or fix `--field`/`--mapping` and start a "
                "fresh run.",
            ],
            [USE_EXISTING_FIELD, CREATE_FIELD, IGNORE_COLUMN, RETRY, ABORT],
            reruns=_field_reruns,
        ),
        Playbook(
            "TOO_MANY_REMOVALS",
            "The sync would remove more contacts than allowed",
            "This mirror sync would unsubscribe **{removals_text}** contacts from {list_text}, over the limit of "
            "{limit_text} (`--max-removals`, default 10 % of the contacts this tool keeps in the list). Nothing has "
            "been written. A broken or partial audience query is the usual cause.",
            [
                "Nothing to change in ActiveCampaign. If the removals are expected, see below; if not, compare the "
                "audience's row count with the list's (Contacts → Lists).",
            ],
            [
                "Check the audience query's row count against the list (`ac-sync plan ... --show 10` lists who "
                "would leave).",
                "If the removals are right, continue with `approve`, or raise `--max-removals` (a number, or a "
                "percentage like `25%`) in a fresh run; otherwise fix the query and start a fresh run.",
            ],
            [APPROVE, RETRY, ABORT],
            reruns=_removal_reruns,
            suggest=lambda ctx: {"action": "abort"},
        ),
    ]
}

assert set(PLAYBOOKS) == set(TYPED), "every typed failure needs a playbook"


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def md_text(value: object) -> str:
    """`value` as literal markdown text: its *, _, ` and the like escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


def md_name(value: object) -> str:
    """A name in bold; quoted when spaces at its ends would otherwise vanish (or break the bold)."""
    text = str(value)
    if text != text.strip() or not text:
        return f'**"{md_text(text)}"**'
    return f"**{md_text(text)}**"


def _context(failure: FailureRecord) -> dict[str, Any]:
    """The failure's context, with every phrase a template uses: none prints `None` or an empty name."""
    ctx = _Blank(failure.as_dict())
    ctx["message"] = md_text(str(ctx.get("message") or "").rstrip("."))
    ctx["step_text"] = md_name(failure.step) if failure.step else "a step"
    ctx["group_text"] = md_name(ctx["group_name"]) if "group_name" in ctx else "the given group"
    ctx["group_id_text"] = f"group {ctx['group_id']}" if ctx.get("group_id") is not None else "the group"
    if ctx.get("list_name"):
        ids = f" (id {ctx['list_id']})" if ctx.get("list_id") is not None and not ctx.get("list_ids") else ""
        ctx["list_text"] = md_name(ctx["list_name"]) + ids
    elif ctx.get("list_id") is not None:
        ctx["list_text"] = f"the list with id {ctx['list_id']}"
    else:
        ctx["list_text"] = "the list"
    ctx["api_url_text"] = f"`{ctx['api_url']}`" if ctx.get("api_url") else "the configured API URL"
    ctx["right_text"] = md_text(ctx.get("right") or "do what this step asked")
    hints = ctx.get("suggestions") or []
    groups = ctx.get("available_groups") or []
    if hints:
        ctx["suggestion_text"] = f"Did you mean {', '.join(md_text(repr(h)) for h in hints)}?"
    elif groups:
        ctx["suggestion_text"] = (
            "No title is close; the account's groups are " + ", ".join(md_text(repr(g)) for g in groups) + "."
        )
    else:
        ctx["suggestion_text"] = ""
    ids = ctx.get("list_ids") or []
    ctx["list_ids_text"] = ", ".join(str(i) for i in ids) or "unknown"
    ctx["count"] = len(ids) or "Several"
    candidates = ctx.get("candidates") or []
    ctx["candidates_text"] = ", ".join(f"`{c}`" for c in candidates) or "(none listed)"
    ctx["candidate_count"] = len(candidates) or "several"
    ctx["column_text"] = md_name(ctx["column"]) if ctx.get("column") else "a column"
    ctx["wanted_text"] = md_name(ctx["wanted"]) if ctx.get("wanted") else "a field"
    ctx["removals_text"] = ctx.get("removals", "more")
    ctx["limit_text"] = ctx.get("limit", "the allowed number")
    return ctx


def suggested(failure: FailureRecord) -> dict[str, Any]:
    """The action a resolution form offers first for this failure, with the inputs it suggests."""
    return PLAYBOOKS[failure.code].suggest(failure.as_dict())


def _shell(words: tuple[str, ...] | list[str]) -> str:
    return shlex.join(words)


def with_options(command: tuple[str, ...], options: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """`command` with each (flag, value) set: replacing the flag's earlier value, or added (--field is added)."""
    words = list(command)
    for flag, value in options:
        if flag != "--field":
            kept: list[str] = []
            skip = False
            for word in words:
                if skip:
                    skip = False
                    continue
                if word == flag:
                    skip = True
                    continue
                if word.startswith(flag + "="):
                    continue
                kept.append(word)
            words = kept
        words += [flag, value]
    return tuple(words)


def resolve_command(flow_run_id: str, action: Action, values: dict[str, Any] | None = None) -> str:
    """The `ac-sync resolve` command of an action; inputs the failure suggests are filled in, others named."""
    values = values or {}
    words = ["ac-sync", "resolve", flow_run_id, "--action", action.name]
    for name in action.inputs:
        words += ["--set", f"{name}={values.get(name, name.upper())}"]
    return _shell(words)


def _when(deadline: datetime) -> str:
    at = deadline.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _code_block(lines: list[str]) -> list[str]:
    return ["```sh", *lines, "```"]


def _waiting(book: Playbook, failure: FailureRecord, flow_run_id: str, where: Where) -> list[str]:
    ctx = failure.as_dict()
    until = f" until **{_when(where.deadline)}**" if where.deadline else ""
    if where.deployment:
        lines = [
            f"The run is suspended{until}, waiting for one of the actions below: its process has exited and its "
            "worker is free, and once resolved a worker runs it again (completed steps come back Cached). "
            "Unanswered by then, it ends Failed.",
        ]
    else:
        lines = [
            f"The run is paused{until}, waiting for one of the actions below; unanswered by then, it stops. "
            "Run one of these (from any shell that reaches the same Prefect API):",
        ]
    commands = []
    values = {k: v for k, v in book.suggest(ctx).items() if k != "action"}
    for action in book.actions:
        if action.name == "use-list" and ctx.get("list_ids"):
            commands += [resolve_command(flow_run_id, action, {"list_id": i}) for i in ctx["list_ids"]]
        elif action.name == "use-field" and _field_ids(ctx):
            commands += [resolve_command(flow_run_id, action, {"field": i}) for i in _field_ids(ctx)]
        else:
            commands.append(resolve_command(flow_run_id, action, values))
    lines += ["", *_code_block(commands)]
    if where.ui_url:
        lines += [
            "",
            f"Or open the run in the Prefect UI ({where.ui_url}), press **Resume**, and choose in its form.",
        ]
    return lines


def _stopped(book: Playbook, failure: FailureRecord, where: Where) -> list[str]:
    ctx = failure.as_dict()
    if where.deployment:
        page = f" on the run's page ({where.ui_url})" if where.ui_url else " on the run's page in the Prefect UI"
        return [
            f"The run has stopped. After the fix, press **Retry**{page}: completed steps come back Cached and "
            "confirmed batches are not sent again.",
        ]
    if not where.command:
        return [
            "The run has stopped. After the fix, start it again the way it was started (the same `ac-sync run` "
            "command, or **Retry** for a deployment's run): it continues from the sync state and re-sends nothing "
            "confirmed.",
        ]
    lines = [
        "The run has stopped. After the fix, run the same command again: it continues from the sync state and "
        "re-sends nothing confirmed.",
        "",
        *_code_block([_shell(where.command)]),
    ]
    reruns = book.reruns(ctx)
    if reruns:
        lines += ["", "Or continue with the command changed:", ""]
        for rerun in reruns:
            lines += [
                f"- to {md_text(rerun.does)}:",
                "",
                *_code_block([_shell(with_options(where.command, rerun.options))]),
            ]
    others = [a.name for a in book.actions if a.name not in ("retry", "abort")]
    if others and _pause_timeout_zero(where.command):
        lines += [
            "",
            f"A run that waits (without `--pause-timeout 0`) also offers {', '.join(f'`{n}`' for n in others)} "
            "while it is paused.",
        ]
    return lines


def _pause_timeout_zero(command: tuple[str, ...]) -> bool:
    words = list(command)
    for i, word in enumerate(words):
        if word == "--pause-timeout" and i + 1 < len(words) and words[i + 1] == "0":
            return True
        if word == "--pause-timeout=0":
            return True
    return False


def render(
    failure: FailureRecord, flow_run_id: str | None = None, *, paused: bool = False, where: Where | None = None
) -> str:
    """The playbook as markdown, filled with the failure's context, its advice fitting `where`."""
    where = where or Where()
    book = PLAYBOOKS.get(failure.code)
    if book is None:
        return _untyped(failure, where)
    ctx = _context(failure)
    lines = [f"# {book.title} (`{book.code}`)", "", "## What happened", "", book.what.format_map(ctx).strip(), ""]
    lines += ["## Fix it in ActiveCampaign", ""] + [f"{i}. {s}" for i, s in enumerate(book.activecampaign_steps, 1)]
    lines += ["", "## Then, on this tool's side", ""] + [f"{i}. {s}" for i, s in enumerate(book.tool_steps, 1)]
    lines += ["", "## Continue the run", ""]
    if paused or not flow_run_id:
        for action in book.actions:
            inputs = "".join(f" `{k}`: {v}." for k, v in action.inputs.items())
            lines.append(f"- **{action.name}**: {action.does.format_map(ctx)}{inputs}")
        lines.append("")
    if flow_run_id and paused:
        lines += _waiting(book, failure, flow_run_id, where)
    elif flow_run_id:
        lines += _stopped(book, failure, where)
    return "\n".join(lines) + "\n"


# What to check for a failure no form resolves, by its code (engine.errors.KINDS).
UNTYPED_ADVICE = {
    "CONFIG_INVALID": "Correct the setting or flag the message names, then run again.",
    "AUDIENCE_INVALID": "Correct the audience (the file, or the query) as the message says, then run again.",
    "STATE_DAMAGED": "The message names the file and the command that rebuilds the list's sync state; run it, "
    "then run again.",
    "STATE_UNWRITABLE": "Make room (or fix the permission) where the message says, then run again: what was "
    "recorded is kept, and the next run does what the message says for the rest.",
    "API_UNAVAILABLE": "ActiveCampaign (or the network to it) kept failing: check its status page and this "
    "machine's connection, then run again; confirmed batches are not sent again.",
    "UNEXPECTED_ANSWER": "ActiveCampaign (or a proxy in front of it) answered something the sync cannot read: check "
    "the API URL and any proxy, then run again; confirmed batches are not sent again.",
    "WRITE_UNCONFIRMED": "ActiveCampaign (or a proxy in front of it) answered a create with something the sync "
    "cannot read, or not at all, each time it tried, and what it would have made is not there (yet). Check in "
    "ActiveCampaign whether the object the message names exists (Lists, Settings → Users → Groups, Fields, Tags); "
    "if it does, the next run finds it and uses it, and if it does not, the next run creates it once. Check the "
    "API URL and any proxy, then run again; completed steps and confirmed batches are not done again.",
    "API_REFUSED": "ActiveCampaign refused a request: the message says which and why. Correct the cause, then run "
    "again.",
    "LIST_BUSY": "Another run holds the list: let it finish (the message names it), then run again.",
}


def _untyped(failure: FailureRecord, where: Where) -> str:
    """The playbook of a failure no form resolves: what happened, what to check, how to continue."""
    advice = UNTYPED_ADVICE.get(
        failure.code,
        "This is likely a bug: report it with the message above. Completed work is kept; run again after the fix.",
    )
    lines = [f"# {failure.title} (`{failure.code}`)", "", "## What happened", ""]
    lines += [f"In step {md_name(failure.step)}: {md_text(failure.message)}", "", "## What to do", "", advice, ""]
    if where.deployment:
        lines.append("After the fix, press **Retry** on the run's page: completed steps come back Cached.")
    elif where.command:
        lines += ["After the fix, run the same command again:", "", *_code_block([_shell(where.command)])]
    return "\n".join(lines) + "\n"
