"""What a run leaves in Prefect for a list's history: its name and tags, its artifacts (keyed per list), and
where its rejected rows go (a file per list and per run).

Prefect keeps an artifact key's versions as one history, so a key per list (`sync-summary-spring-vip-1a2b`)
gives each list its own; the tag `list:<name>` finds the list's runs (`ac-sync history --list NAME`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from ac_sync.engine.audience import rejected_rows, write_rejected_csv
from ac_sync.engine.privacy import Digester, masked
from ac_sync.engine.rejected_files import is_remote, list_folder, prune, shown_path, state_folder
from ac_sync.engine.syncs import RunOptions
from ac_sync.engine.upload.stores import open_location, put_private

SUMMARY_PREFIX = "sync-summary-"
REJECTED_PREFIX = "rejected-rows-"
TAG_PREFIX = "list:"
PLAN_TAG = "ac-sync:plan"  # a dry run: history shows it apart, or not at all
UI_ROWS = 1000  # rejected rows shown in the UI's table (the file has them all)
# One word per concept, in the order the summary table and `ac-sync history` show them.
SUMMARY_ROWS = (
    ("audience rows", "audience_rows"),
    ("valid", "valid"),
    ("invalid", "invalid"),
    ("duplicates", "duplicates"),
    ("added", "added"),
    ("updated", "updated"),
    ("removed", "removed"),
    ("re-subscribed", "resubscribed"),
    ("confirmed from earlier batches", "confirmed_earlier"),
    ("unchanged", "unchanged"),
    ("opted out", "opted_out"),
    ("held for consent", "held"),
    ("rejected", "rejected"),
    ("still queued", "unconfirmed"),
)


def list_key(list_name: str) -> str:
    """An artifact-key form of a list name (lowercase letters, digits, dashes), distinct for distinct names."""
    slug = re.sub(r"[^a-z0-9]+", "-", list_name.lower()).strip("-")[:40] or "list"
    return f"{slug}-{hashlib.sha256(list_name.encode()).hexdigest()[:4]}"


def list_shown(summary: dict[str, Any]) -> str:
    """How a summary's list is named beside its name: its id, or that a plan's list is still to be created."""
    if summary.get("list_id") is not None:
        return f"id {summary['list_id']}"
    return "to be created" if summary.get("status") == "planned" else "not found"


def list_tag(list_name: str) -> str:
    return f"{TAG_PREFIX}{list_name}"


def run_name() -> str:
    """A flow run's name: the list (or the syncs file) and when, instead of Prefect's "jasmine-frog"."""
    params = flow_run.parameters or {}
    what = (
        params.get("list_name")
        or params.get("campaign")
        or (f"account {Path(params['syncs']).stem}" if params.get("syncs") else "sync")
    )
    return f"{what} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


async def tag_run(list_names: list[str], *, plan: bool = False) -> None:
    """Add each list's tag to this flow run, and PLAN_TAG to a dry run's (a deployment's own tags stay)."""
    if not flow_run.id or not list_names:
        return
    from prefect.client.orchestration import get_client

    with contextlib.suppress(Exception):  # a history aid: never the reason a sync fails
        async with get_client() as client:
            run = await client.read_flow_run(flow_run.id)
            tags = sorted({*(run.tags or []), *(list_tag(name) for name in list_names), *([PLAN_TAG] if plan else [])})
            await client.update_flow_run(flow_run.id, tags=tags)


def rejected_log_path(template: str, list_name: str, run_id: str, state: str) -> str:
    """The rejected-rows file of this run of this list: `template` with {state}, {list}, {run} and {when} filled
    (a path without them is used as it is, one file). {state} is state_folder's."""
    safe = list_folder(list_name)
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    filled = (
        template.replace("{state}", state_folder(state))
        .replace("{list}", safe)
        .replace("{run}", run_id[:8])
        .replace("{when}", when)
    )
    return filled if is_remote(filled) else str(Path(filled).absolute())


def summary_table(data: Any) -> dict[str, Any]:
    """A summary artifact's table read back: label -> count (its data comes as the rows or as their JSON)."""
    rows = data if isinstance(data, list) else json.loads(str(data or "[]"))
    return {row.get(""): row.get("count") for row in rows if isinstance(row, dict)}


def summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary's table: the same counts, by the same words, as the terminal, `--json` and `history` show."""
    rows = [{"": "status", "count": summary["status"]}, {"": "kind", "count": summary.get("kind", "run")}]
    rows += [{"": label, "count": summary.get(key) or 0} for label, key in SUMMARY_ROWS]
    rows.append({"": "requests", "count": (summary.get("requests") or {}).get("total", 0)})
    return rows


def shown_rejected(rows: list[dict[str, Any]], digest: Digester, personal_data: bool) -> list[dict[str, Any]]:
    """The rejected rows as Prefect may keep them: unless the team lets its Prefect hold personal data
    (AC_SYNC_PREFECT_PERSONAL_DATA), the email masked beside its digest (the private file has the same digest
    beside the address) and the refused value left out of the row and of its reason."""
    if personal_data:
        return rows
    shown = []
    for row in rows:
        reason, value, email = row.get("reason") or "", row.get("value"), (row.get("email") or "").strip()
        if email:  # ActiveCampaign's own wording may quote the address it refused
            reason = re.sub(re.escape(email), masked(email), reason, flags=re.IGNORECASE)
        quoted = f"'{(value or '')[:100]}' "
        shown.append(
            {
                "row": row.get("row"),
                "email": masked(row.get("email")),
                "digest": digest(row.get("email")),
                "column_name": row.get("column_name"),
                "reason": f"the value {reason.removeprefix(quoted)}"
                if value is not None and reason.startswith(quoted)
                else reason,
            }
        )
    return shown


def _write_rejected(db_path: Path, log_path: str, digest: Digester) -> int:
    """The rejected rows into their private file: on this machine directly, or written here (privately, for
    the moment it takes) and put where the state lives, private there too (stores.put_private)."""
    if not is_remote(log_path):
        return write_rejected_csv(db_path, Path(log_path), digest=digest)
    with tempfile.TemporaryDirectory(prefix="ac-sync-rejected-") as folder:
        local = Path(folder) / "rejected.csv"
        written = write_rejected_csv(db_path, local, digest=digest)
        if written:
            put_private(local, log_path)
        return written


async def publish_run(summary: dict[str, Any], db_path: str | None, log_path: str | None, options: RunOptions) -> int:
    """The summary table and, with rejected rows, their private file (`log_path`, its list's older files pruned
    to the options' retention) and a table of the first UI_ROWS (shown_rejected's); answers the rows written."""
    name = summary.get("list_name") or "list"
    written = 0
    personal_data = options.prefect_personal_data
    if log_path and db_path:
        digest = Digester()
        written = _write_rejected(Path(db_path), log_path, digest)
        if written and options.rejected_log and ("{run}" in options.rejected_log or "{when}" in options.rejected_log):
            fs, path = open_location(log_path)
            prune(fs, path.rsplit("/", 1)[0], options.rejected_keep_days, options.rejected_keep_runs)
        if written:
            name_shown, root = shown_path(log_path, options.state)
            summary["verbose_log"] = name_shown
            if root is not None:
                summary["verbose_log_root"] = root
            where = f"{name_shown} beside the sync state" if root is not None else name_shown
            shown = shown_rejected(rejected_rows(Path(db_path), UI_ROWS), digest, personal_data)
            first = f"the first {UI_ROWS} of {written}" if written > UI_ROWS else f"all {written}"
            await create_table_artifact(
                shown,
                key=REJECTED_PREFIX + list_key(name),
                description=f"Rejected rows of list {name!r}: {first}; every one, with its original values, in"
                f" {where} (find a row there by its digest: ac-sync rejected --find DIGEST)",
            )
    await create_table_artifact(
        summary_rows(summary),
        key=SUMMARY_PREFIX + list_key(name),
        description=f"ac-sync: list {name!r} ({list_shown(summary)}), group {summary.get('group_name')!r}",
    )
    return written
