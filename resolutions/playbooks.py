"""Playbooks: for each typed failure, what happened, how to fix it, and the actions that continue the run.

A playbook is rendered with the failure's context (step, list, group, ...) and never with the API key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resolutions.failures import FAILURES, SyncFailure


@dataclass(frozen=True)
class Action:
    name: str
    does: str
    inputs: dict[str, str] = field(default_factory=dict)  # --set KEY=VALUE the action needs, and what it is


RETRY = Action(
    "retry",
    "Re-run the failed step as it is, after you fixed the cause outside this tool. Credentials and the API URL "
    "are reloaded from their source (environment, .env or the credentials block) first.",
)
ABORT = Action("abort", "Stop the run here; it ends Failed. Completed work stays done and a later run continues it.")


@dataclass(frozen=True)
class Playbook:
    code: str
    title: str
    what: str  # what happened, in the operator's words; {placeholders} come from the failure's context
    activecampaign_steps: list[str]
    tool_steps: list[str]
    actions: list[Action]

    def action(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)


_CREDENTIAL_TOOL_STEPS = [
    "Put the key where this run reads it: `AC_SYNC_API_KEY` in the environment or `.env` of the process that runs "
    "the flow, or the credentials block (`ac-sync credentials save NAME --api-url URL`, key from stdin).",
    "Continue with the `retry` action: the run reloads the credentials and re-runs the failed step.",
]

PLAYBOOKS: dict[str, Playbook] = {
    p.code: p
    for p in [
        Playbook(
            "INVALID_CREDENTIALS",
            "ActiveCampaign refused the API key",
            "ActiveCampaign answered 403 Forbidden in step **{step}**: the API key is missing, mistyped, revoked, or "
            "was rotated while the run was going. Completed steps and confirmed batches are kept.",
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
            "Step **{step}** could not reach ActiveCampaign's API at `{api_url}`: {message}",
            [
                "Open Settings → Developer in ActiveCampaign and copy the URL shown there "
                "(for example https://youraccount.api-us1.com); the host differs by region.",
            ],
            [
                "Set `AC_SYNC_API_URL` (environment or `.env`) or the credentials block's URL; HTTPS is required for "
                "any host but loopback, and the URL may end in /api/3 or not.",
                "Check that the machine running the flow can reach that host (proxy, firewall, DNS).",
                "Continue with `retry`.",
            ],
            [RETRY, ABORT],
        ),
        Playbook(
            "PAYMENT_REQUIRED",
            "ActiveCampaign reports a billing problem (402)",
            "ActiveCampaign answered 402 Payment Required in step **{step}**: the account's plan or payment needs "
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
            "No user group is titled **{group_name}** (titles must match exactly, case and spaces included). "
            "{suggestion_text}",
            [
                "In ActiveCampaign open Settings → Users → Groups and find the group whose users should see the list.",
                "Or create the group there (or let this tool create it with the `create-group` action).",
            ],
            [
                "Continue with `use-group` and the exact title, or `create-group`, or fix the name in the deployment's "
                "parameters and `retry`.",
            ],
            [
                Action(
                    "use-group", "Use this group title instead.", {"group_name": "the exact title of an existing group"}
                ),
                Action(
                    "create-group",
                    "Create the group with the name given, then continue (the key's user must be "
                    "allowed to add groups).",
                ),
                RETRY,
                ABORT,
            ],
        ),
        Playbook(
            "AMBIGUOUS_LIST_NAME",
            "Several lists share the list name",
            "{count} lists are named **{list_name}** (ids {list_ids_text}). The tool will not guess which one the "
            "audience belongs in.",
            [
                "In ActiveCampaign open Contacts → Lists and decide which list is the audience's.",
                "Optionally rename or delete the others so later runs are unambiguous.",
            ],
            ["Continue with `use-list` and the chosen id, or `retry` after renaming the others."],
            [
                Action("use-list", "Sync into this list.", {"list_id": "one of the ids above"}),
                RETRY,
                ABORT,
            ],
        ),
        Playbook(
            "LIST_PERMISSION_DENIED",
            "The key's user may not create or link the list",
            "ActiveCampaign answered 403 in step **{step}** for list **{list_name}** and group {group_id}: the key is "
            "valid, but its user may not {right} ({message}).",
            [
                "Give the key's user's group the permission to add and edit lists (Settings → Users → Groups → "
                "Permissions), or use the key of a user who has it.",
                "Or create the list yourself, give the group access to it, and note its id.",
            ],
            ["Continue with `retry` after the permission change, or `use-list` with the id of a list you created."],
            [
                Action("use-list", "Sync into this existing list.", {"list_id": "the id of a list the group can see"}),
                RETRY,
                ABORT,
            ],
        ),
        Playbook(
            "STATE_MISMATCH",
            "The sync state was written for another list",
            "In step **{step}**: {message}. The tool will not trust a record of another list: it could skip "
            "contacts that were never sent to this one. Nothing has been written.",
            [
                "In ActiveCampaign check Contacts → Lists: is this the list the audience belongs in?",
            ],
            [
                "Continue with `start-fresh`: the old state is set aside (kept beside the new one, not deleted) "
                "and the list is synced as a first sync — bulk import never re-subscribes anyone who "
                "unsubscribed, so opt-outs stay out.",
                "Or `abort`, and point the run at the right list (`--list`) or the right state (`--state`).",
            ],
            [
                Action("start-fresh", "Set the old state aside and sync this list as a first sync."),
                RETRY,
                ABORT,
            ],
        ),
        Playbook(
            "LIST_GONE",
            "The list was deleted or replaced while the sync ran",
            "Just before reporting the run as completed, step **{step}** found that {message}. What this run "
            "sent went to a list that is no longer there, so the run is not completed.",
            [
                "In ActiveCampaign check Contacts → Lists (and whether the account was reset or restored).",
            ],
            [
                "Continue with `retry`: the run finds or creates the list **{list_name}** again (a new list starts "
                "with an empty sync state) and sends the audience to it; nobody who unsubscribed is re-subscribed.",
            ],
            [RETRY, ABORT],
        ),
        Playbook(
            "MISSING_PERMISSION",
            "The key's user lacks a permission this sync needs",
            "In step **{step}** ActiveCampaign refused to let the key's user {right}: {message}. The key itself "
            "is valid (who-am-I answers); its user's group lacks the right. Nothing after this step has run.",
            [
                "In ActiveCampaign open Settings → Users → Groups, open the group of the key's user, and grant "
                "the permission (reading users and user groups needs the Admin group); or raise the group's "
                "limit if the message names one.",
                "Or use the key of a user in the Admin group.",
            ],
            [
                "Save the other key where the run reads it (`AC_SYNC_API_KEY`, or `ac-sync credentials save NAME` "
                "for the credentials block), then continue with `retry`: the run reloads the credentials.",
            ],
            [RETRY, ABORT],
        ),
        Playbook(
            "RATE_LIMIT_EXHAUSTED",
            "The account stayed rate-limited past the retry budget",
            "Step **{step}** kept getting throttled (429, 503 or the bulk-import limit) after every retry. "
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
            "Column **{column}** of the audience matches {candidate_count} custom fields by perstag or title: "
            "{candidates_text}. The tool will not guess which one gets its values. Nothing has been written.",
            [
                "In ActiveCampaign open Contacts → Fields and decide which field the column belongs in.",
                "Optionally rename one of them so that later runs are unambiguous.",
            ],
            [
                "Continue with `use-field` and the field's perstag or id, `ignore-column` to send the column nowhere, "
                "or map it for good with `--field {column}=PERSTAG` (or a `--mapping` file) in a fresh run.",
            ],
            [
                Action("use-field", "Send this column to this field.", {"field": "the perstag or id of a field above"}),
                Action("ignore-column", "Send this column nowhere in this run (it is listed as unmapped)."),
                RETRY,
                ABORT,
            ],
        ),
        Playbook(
            "UNKNOWN_FIELD",
            "A column is mapped to a custom field that does not exist",
            "Column **{column}** is mapped to **{wanted}**, but no custom field of the account has that perstag, "
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
            [
                Action("use-field", "Send this column to this field.", {"field": "an existing field's perstag or id"}),
                Action(
                    "create-field",
                    "Create a custom field titled after the column, of this type, and send the column there.",
                    {"field_type": "text, textarea, date, datetime, dropdown, radio, listbox, checkbox or hidden"},
                ),
                Action("ignore-column", "Send this column nowhere in this run (it is listed as unmapped)."),
                RETRY,
                ABORT,
            ],
        ),
        Playbook(
            "TOO_MANY_REMOVALS",
            "The sync would remove more contacts than allowed",
            "This mirror sync would unsubscribe **{removals}** contacts from list **{list_name}**, over the limit of "
            "{limit}. Nothing has been written. A broken or partial audience query is the usual cause.",
            ["None, unless the removals are expected."],
            [
                "Check the audience query's row count against the list.",
                "If the removals are right, continue with `approve`; otherwise fix the query and start a fresh run.",
            ],
            [Action("approve", "Accept these removals for this run and continue."), RETRY, ABORT],
        ),
    ]
}

assert set(PLAYBOOKS) == set(FAILURES), "every typed failure needs a playbook"


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def _context(failure: SyncFailure) -> dict[str, Any]:
    ctx = _Blank(failure.as_dict())
    hints = ctx.get("suggestions") or []
    ctx["suggestion_text"] = f"Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
    ids = ctx.get("list_ids") or []
    ctx["list_ids_text"] = ", ".join(str(i) for i in ids)
    ctx["count"] = len(ids)
    candidates = ctx.get("candidates") or []
    ctx["candidates_text"] = ", ".join(f"`{c}`" for c in candidates)
    ctx["candidate_count"] = len(candidates)
    return ctx


def resolve_command(flow_run_id: str, action: Action) -> str:
    sets = " ".join(f"--set {name}=<{name}>" for name in action.inputs)
    return f"ac-sync resolve {flow_run_id} --action {action.name}" + (f" {sets}" if sets else "")


def render(failure: SyncFailure, flow_run_id: str | None = None, *, paused: bool = False) -> str:
    """The playbook as markdown, filled with the failure's context."""
    book = PLAYBOOKS[failure.code]
    ctx = _context(failure)
    lines = [f"# {book.title} (`{book.code}`)", "", "## What happened", "", book.what.format_map(ctx), ""]
    lines += ["## Fix it in ActiveCampaign", ""] + [f"{i}. {s}" for i, s in enumerate(book.activecampaign_steps, 1)]
    lines += ["", "## Then, on this tool's side", ""] + [f"{i}. {s}" for i, s in enumerate(book.tool_steps, 1)]
    lines += ["", "## Continue the run", ""]
    for action in book.actions:
        inputs = "".join(f" `{k}`: {v}." for k, v in action.inputs.items())
        lines.append(f"- **{action.name}**: {action.does}{inputs}")
    if flow_run_id and paused:
        lines += ["", "The run is paused, waiting. Choose an action in the Prefect UI form, or run:", ""]
        lines += [f"    {resolve_command(flow_run_id, a)}" for a in book.actions]
    elif flow_run_id:
        lines += [
            "",
            "The run has stopped. After the fix, use the Prefect UI's **Retry** on this run (completed steps and "
            "confirmed batches are skipped), or start a fresh `ac-sync run` with the same options: it continues from "
            "the sync state and re-sends nothing confirmed.",
        ]
    return "\n".join(lines) + "\n"
