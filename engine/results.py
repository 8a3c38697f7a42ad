"""What each step answers, as models: the only carriers between the steps (besides the sync and the run options).

    get-details          AudienceDetails   the audience counted (a campaign's split into its sub-audiences)
    ensure-group         GroupTarget       the user group, found or created
    ensure-list          ListTarget        the list, found or created, and linked to the group
    upload-contacts      UploadOutcome     per list: its plan, what was sent and confirmed, or its failure

A plan's list that does not exist yet has no id (`ListTarget.list_id` None, `created` True): everything else
about it is known and filled in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ac_sync.engine.errors import FailureRecord


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class AudienceDetails(_Model):
    """get-details: the audience read and counted; its preparation waits for the mapping (upload-contacts)."""

    db_path: str
    rows: int
    valid: int
    invalid: int
    duplicates: int
    columns: list[str] = Field(default_factory=list)
    parts: dict[str, AudienceDetails] = Field(default_factory=dict)  # a campaign's sub-audiences, by value


class GroupTarget(_Model):
    id: int
    title: str
    created: bool = False


class ListTarget(_Model):
    """ensure-list: the list the sync writes into (in a plan, the list it would create has no id yet)."""

    list_id: int | None
    name: str
    created: bool = False  # this run created it (a plan: would create it)
    linked: bool = False  # the link to the group was requested (a plan: would be)
    stringid: str | None = None
    sender_url: str | None = None  # what a created list was (a plan: would be) given
    sender_reminder: str | None = None


class PlanSummary(_Model):
    """What a list's upload decided (for a plan: will do), in the words the summaries use."""

    adds: int = 0
    updates: int = 0
    removals: int = 0
    resubscribes: int = 0
    opted_out: int = 0
    unchanged: int = 0
    clears: int = 0
    untags: int = 0
    rerecorded: int = 0
    requests: dict[str, int] = Field(default_factory=dict)
    seconds_at_limits: float = 0.0
    max_removals: int = 0
    mode: str = "upsert"
    automations: str = "skip"
    mapping: dict[str, str] = Field(default_factory=dict)
    unmapped: list[str] = Field(default_factory=list)
    rejected_values: int = 0
    naive_datetimes: int = 0
    no_state_members: int = 0
    examples: dict[str, list[str]] = Field(default_factory=dict)  # a plan's few emails of each change

    def as_dict(self) -> dict[str, Any]:
        out = self.model_dump()
        for key in ("rejected_values", "naive_datetimes", "no_state_members", "examples"):
            if not out[key]:
                del out[key]
        return out


class SentCounts(_Model):
    """What an upload wrote and had confirmed in this run. `subscribed` and `unsubscribed` count every contact
    this run confirmed, `confirmed_earlier` the part of them that an earlier, stopped run had sent."""

    added: int = 0  # new to the list
    updated: int = 0  # on the list, values changed
    subscribed: int = 0  # added + updated (and re-subscribed ones' values)
    unsubscribed: int = 0
    resubscribed: int = 0
    held: int = 0  # removed by this tool and back in the audience, but not re-subscribed: consent (consent.py)
    confirmed_earlier: int = 0
    contact_writes: int = 0
    rejected: int = 0  # refused by ActiveCampaign
    batches: int = 0
    batches_resent: int = 0
    unconfirmed: int = 0
    format_rejections: int = 0
    polls: int = 0


class VerifySummary(_Model):
    """A list's membership against its state: counts only (the addresses stay with the operator's command)."""

    status: str  # completed (matches) or mismatch
    list_id: int
    members: int = 0
    expected: int = 0
    missing: int = 0
    extra: int = 0
    opted_out: int = 0
    bounced: int = 0
    repaired: int = 0
    sampled: int | None = None


class ImportSavings(_Model):
    """An upload's bulk imports: shared by its lists, against what syncing them one at a time would take."""

    bulk_import: int = 0  # planned shared imports
    one_by_one: int = 0
    changed_contacts: int = 0
    sent: int = 0
    conflicts: int = 0  # values two lists' audiences disagreed on (the earlier sync's won)


class UploadOutcomes(_Model):
    lists: dict[str, UploadOutcome] = Field(default_factory=dict)
    imports: ImportSavings = Field(default_factory=ImportSavings)


class UploadOutcome(_Model):
    """upload-contacts for one list: its plan and what was sent, or why it stopped (then the others went on)."""

    key: str
    plan: PlanSummary | None = None
    sent: SentCounts = Field(default_factory=SentCounts)
    unchanged: int = 0  # of the valid audience: needed nothing, and not confirmed by this run
    verify: VerifySummary | None = None
    failure: FailureRecord | None = None


UploadOutcomes.model_rebuild()
