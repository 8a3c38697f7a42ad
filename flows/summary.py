"""The run summary, built in one place whichever flow ran the list: the `--json` keys of interface.md, the counts the
terminal, the Prefect artifacts and `ac-sync history` show.

A list's counts add up: of its valid audience, `added` + `updated` + `resubscribed` contacts this run sent and had
confirmed, `confirmed_earlier` contacts an earlier (stopped) run had sent and this run confirmed, `unchanged`
ones that needed nothing, `opted_out` ones skipped, and `held` ones this tool had removed and may not
re-subscribe (plus, rarely, `unconfirmed` ones still queued and ones ActiveCampaign refused). A stopped run
reports what it had confirmed when it stopped, so that a list's runs in `history` add up to the list.
"""

from __future__ import annotations

from typing import Any

from ac_sync.engine.audience import count_rejected
from ac_sync.engine.errors import AudienceError, FailureRecord
from ac_sync.engine.results import SentCounts
from ac_sync.engine.syncs import RunOptions
from ac_sync.flows.orchestration import RunOutcome, Target
from ac_sync.flows.shape import COUNTS
from ac_sync.resolutions.playbooks import Where, render


class RunFailed(Exception):
    """A run in which a sync failed (or, for a one-list run, its sync): the flow run ends Failed with this, its
    message naming each failed sync, and carries the summary the command line prints."""

    quiet_traceback = True  # each failure has its playbook or its one line

    def __init__(self, summary: dict[str, Any], failures: list[FailureRecord]) -> None:
        named = "; ".join(
            f"{f'sync {f.sync}: ' if f.sync else ''}{f.code} in step {f.step}: {f.message}" for f in failures
        )
        super().__init__(f"{len(failures)} of {max(len(summary.get('syncs') or {}), 1)} failed — {named}")
        self.summary = summary
        self.failures = failures

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.summary, self.failures))


def failure_dict(failure: FailureRecord, run_id: str, where: Where) -> dict[str, Any]:
    return {**failure.as_dict(), "kind": failure.kind, "playbook": render(failure, run_id, where=where)}


def _rejected(target: Target) -> tuple[int, int]:
    if target.details is None:
        return 0, 0
    try:
        return count_rejected(target.details.db_path)
    except AudienceError:
        return 0, 0


def _sent(target: Target) -> SentCounts:
    """What the list's upload confirmed: its outcome's, or, for a run stopped while uploading, its last progress."""
    if target.outcome is not None:
        return target.outcome.sent
    live = target.live
    if live is None:
        return SentCounts()
    return SentCounts(
        added=live.added,
        updated=live.updated,
        subscribed=live.added + live.updated,
        unsubscribed=live.removed,
        confirmed_earlier=live.confirmed_earlier,
        batches=live.batches_confirmed,
    )


def _planned(plan: dict[str, Any], target: Target, reads_made: int) -> dict[str, Any]:
    """A plan's requests with what the run adds to the writes the plan itself made no room for: the list's
    creation and link; and its reads: those the plan made, those the contact-API work reads as it goes
    (lookups, tags), and, for a list the run creates, the look again under the lock on its name (another run
    may have made it meanwhile) and the read that confirms it is still there at the end."""
    will = dict(plan["requests"])
    created = bool(target.listed and target.listed.created)
    will.update(lists=int(created), listGroups=int(bool(target.listed and target.listed.linked)))
    will["reads"] = reads_made + will.get("contacts", 0) + will.get("tags", 0) + 2 * int(created)
    return {**plan, "requests": will}


def list_summary(
    target: Target,
    options: RunOptions,
    run_id: str,
    *,
    where: Where,
    stopped: bool = False,
    requests: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One list's summary: the same keys, with the same meaning, in a one-list run and in an account run.
    `requests`: those to report for it (a one-list run's: all of the run's; else the list's own)."""
    requests = requests or {"total": 0, "bulk_import": 0, **target.requests}
    details, outcome = target.details, target.outcome
    plan = outcome.plan if outcome is not None else None
    sent = _sent(target)
    rejected, rejected_values = _rejected(target)
    listed = target.listed
    if target.failure is not None:
        status = "failed"
    elif stopped:
        status = "stopped"
    else:
        status = "planned" if options.dry_run else "completed"
    unchanged = outcome.unchanged if outcome is not None else 0
    return {
        "status": status,
        "kind": "plan" if options.dry_run else "run",
        "flow_run_id": run_id,
        "sync": target.key,
        "list_name": target.list_name,
        "list_id": listed.list_id if listed else None,
        "list_created": bool(listed and listed.created),
        # What a new list is given (AC_SYNC_LIST_SENDER_URL/_REMINDER): said in the plan and the run that creates it.
        "new_list": (
            {"sender_url": listed.sender_url, "sender_reminder": listed.sender_reminder}
            if listed and listed.created
            else None
        ),
        "group_name": target.group.title if target.group else target.decisions.group(target.sync),
        "group_id": target.group.id if target.group else None,
        "mode": target.sync.mode,
        "automations": plan.automations if plan else target.sync.automations or options.automations,
        "audience_rows": details.rows if details else 0,
        "valid": details.valid if details else 0,
        "invalid": details.invalid if details else 0,
        "duplicates": details.duplicates if details else 0,
        "added": sent.added,
        "updated": sent.updated,
        "removed": sent.unsubscribed,
        "subscribed": sent.subscribed,
        "unsubscribed": sent.unsubscribed,
        "resubscribed": sent.resubscribed,
        "held": sent.held,
        "confirmed_earlier": sent.confirmed_earlier,
        "unchanged": unchanged,
        "opted_out": plan.opted_out if plan else 0,
        "rejected": rejected,
        "rejected_values": rejected_values,
        "unconfirmed": sent.unconfirmed,
        "batches": sent.batches,
        "batches_resent": sent.batches_resent,
        "mapping": target.mapping.as_summary() if target.mapping else {},
        "unmapped": target.mapping.sent_nowhere if target.mapping else [],
        "verify": outcome.verify.model_dump() if outcome and outcome.verify else None,
        "plan": (
            _planned(plan.as_dict(), target, int(requests.get("total", 0)))
            if plan and options.dry_run
            else plan.as_dict()
            if plan
            else None
        ),
        "requests": requests,
        "failure": failure_dict(target.failure, run_id, where) if target.failure else None,
    }


def _campaign(name: str, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A campaign sync's summary: its sub-audiences' lists, and their counts added up."""
    first = next(iter(parts.values()))
    statuses = {p["status"] for p in parts.values()}
    out = {
        **{key: first[key] for key in ("kind", "flow_run_id", "group_name", "group_id", "mode", "automations")},
        "status": statuses.pop() if len(statuses) == 1 else "failed",
        "sync": name,
        "list_name": None,
        "list_id": None,
        "sub_audiences": parts,
        **{count: sum(int(p[count] or 0) for p in parts.values()) for count in COUNTS},
        "failure": next((p["failure"] for p in parts.values() if p["failure"]), None),
    }
    return out


def run_summary(outcome: RunOutcome, options: RunOptions, run_id: str, *, where: Where) -> dict[str, Any]:
    """The account's summary: `syncs` by name (a campaign's lists under its `sub_audiences`), and the run's own
    status, requests, shared imports and failures."""
    per_sync: dict[str, dict[str, Any]] = {}
    campaigns: dict[str, dict[str, dict[str, Any]]] = {}
    for target in outcome.targets:
        one = list_summary(target, options, run_id, where=where, stopped=outcome.stopped)
        name, _, sub = target.key.partition("/")
        if sub:
            campaigns.setdefault(name, {})[sub] = one
            per_sync.setdefault(name, {})
        else:
            per_sync[name] = one
    for name, parts in campaigns.items():
        per_sync[name] = _campaign(name, parts)
    failures = [t.failure for t in outcome.targets if t.failure is not None]
    statuses = {s["status"] for s in per_sync.values()}
    status = (
        "failed"
        if failures
        else "stopped"
        if outcome.stopped
        else statuses.pop()
        if len(statuses) == 1
        else "completed"
    )
    return {
        "status": status,
        "kind": "plan" if options.dry_run else "run",
        "flow_run_id": run_id,
        "syncs": per_sync,
        "requests": outcome.requests,
        "imports": outcome.imports.model_dump(),
        "failure": failure_dict(failures[0], run_id, where) if failures else None,
        "failures": [f.as_dict() for f in failures],
    }


def one_list_summary(outcome: RunOutcome, options: RunOptions, run_id: str, *, where: Where) -> dict[str, Any]:
    """A one-list run's summary: its list's, with the run's requests."""
    (target,) = outcome.targets
    return list_summary(target, options, run_id, where=where, stopped=outcome.stopped, requests=outcome.requests)
