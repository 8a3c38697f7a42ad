"""An account's syncs as code: one YAML file that declares every list the account keeps and where it comes from.

    account:                        # optional: what every sync shares
      credentials_block: acme       # a saved ActiveCampaign credentials block (else the environment's key)
      state: s3://bucket/ac-sync    # where the sync state lives (else AC_SYNC_STATE)
    defaults:                       # optional: any sync key, for every sync that does not set it
      group: Marketing
    syncs:
      - name: vip                   # unique: used in messages, state and summaries
        audience: vip.csv           # a file or SQL, as --audience
        list: VIP                   # or list_template "{campaign_name} – {sub_audience}" with campaign/sub_audience
        group: Marketing
        mode: mirror                # optional, as --mode; so are fields, max_removals, automations, tags, ...

Why this shape: a list of syncs (not a mapping by name) keeps the order that decides which sync's value wins
when two write the same contact's field; `defaults` keeps a dozen syncs from repeating their group and mode;
`account` holds what is the account's, not a list's. Every mistake is found before anything runs, one line
each, naming the sync and the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ac_sync.engine.errors import ConfigError
from ac_sync.engine.settings import SyncSettings

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TEMPLATE_KEYS = ("campaign_name", "sub_audience", "group_name")


class SyncSpec(BaseModel):
    """One list (or, with a sub-audience column, one list per sub-audience) and the audience that feeds it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    audience: str
    list: str | None = None
    list_template: str | None = None
    campaign: str | None = None
    sub_audience: str | None = None  # the audience column whose values name the sub-audiences
    group: str
    mode: Literal["upsert", "mirror"] = "upsert"
    fields: dict[str, Any] | None = None
    clear_empty: bool = False
    tags: Literal["add", "mirror"] = "add"
    max_removals: str | None = None
    automations: Literal["skip", "run", "new-only"] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("use letters, digits, '.', '-' and '_' (at most 64)")
        return value

    @field_validator("max_removals")
    @classmethod
    def _removals(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+%?|\d+\.\d+%", str(value).strip()):
            raise ValueError("N or P% (e.g. 500 or 5%)")
        return value

    @model_validator(mode="after")
    def _list_or_template(self) -> SyncSpec:
        if (self.list is None) == (self.list_template is None):
            raise ValueError("give either `list` or `list_template`")
        if self.list_template is not None:
            keys = set(re.findall(r"{([^{}]*)}", self.list_template))
            unknown = keys - set(TEMPLATE_KEYS)
            if unknown:
                raise ValueError(f"list_template: unknown {{{sorted(unknown)[0]}}} (use {', '.join(TEMPLATE_KEYS)})")
            if "campaign_name" in keys and not self.campaign:
                raise ValueError("list_template uses {campaign_name}: set `campaign`")
            if ("sub_audience" in keys) != bool(self.sub_audience):
                raise ValueError("`sub_audience` (a column) and {sub_audience} in list_template go together")
        elif self.sub_audience:
            raise ValueError("`sub_audience` needs a list_template with {sub_audience}")
        return self

    def list_name(self, sub_audience: str | None = None) -> str:
        if self.list is not None:
            return self.list
        assert self.list_template is not None
        return self.list_template.format(
            campaign_name=self.campaign or "", sub_audience=sub_audience or "", group_name=self.group
        ).strip()


class AccountSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentials_block: str | None = None
    state: str | None = None


class SyncsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: AccountSpec = Field(default_factory=AccountSpec)
    defaults: dict[str, Any] = Field(default_factory=dict)
    syncs: list[SyncSpec]

    def selected(self, only: list[str] | None) -> list[SyncSpec]:
        if not only:
            return list(self.syncs)
        names = {s.name for s in self.syncs}
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ConfigError(f"--only {unknown[0]!r}: no sync of that name (syncs: {', '.join(sorted(names))})")
        return [s for s in self.syncs if s.name in only]


def parse_syncs(document: Any, where: str) -> SyncsFile:
    """Validate a syncs document; every mistake is one line of one ConfigError, naming the sync and the key."""
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: expected `syncs:` with a list of syncs (see the README, 'An account's syncs')")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{where}: `defaults` must map sync keys to values")
    raw_syncs = document.get("syncs")
    if not isinstance(raw_syncs, list) or not raw_syncs:
        raise ConfigError(f"{where}: `syncs` must be a list with at least one sync")
    merged = [{**defaults, **s} if isinstance(s, dict) else s for s in raw_syncs]
    problems: list[str] = []
    try:
        parsed = SyncsFile.model_validate({**document, "syncs": merged})
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"{where}: {_place(error['loc'], merged)}: {_reason(error)}")
        raise ConfigError("\n".join(problems)) from None
    seen: dict[str, int] = {}
    for i, sync in enumerate(parsed.syncs, start=1):
        if sync.name in seen:
            problems.append(f"{where}: sync {i} ({sync.name}): the name is already sync {seen[sync.name]}'s")
        seen.setdefault(sync.name, i)
    lists: dict[str, str] = {}
    for sync in parsed.syncs:
        if sync.list is not None:
            other = lists.setdefault(sync.list, sync.name)
            if other != sync.name:
                problems.append(f"{where}: sync {sync.name}: list {sync.list!r} is also sync {other}'s (one a list)")
    if problems:
        raise ConfigError("\n".join(problems))
    return parsed


def load_syncs(path: str | Path) -> SyncsFile:
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"syncs file not found: {file}") from None
    except yaml.MarkedYAMLError as exc:
        # Where the YAML went wrong, as an editor shows it (1-based), with what the parser expected there.
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"cannot read the syncs file {file}: not YAML{where}: {exc.problem or exc.context}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the syncs file {file}: {str(exc).splitlines()[0]}") from None
    parsed = parse_syncs(document, str(file))
    # Audience files are relative to the syncs file, as a person writing it expects.
    for sync in parsed.syncs:
        candidate = file.parent / sync.audience
        if not Path(sync.audience).is_absolute() and candidate.is_file():
            sync.audience = str(candidate)
    return parsed


def _place(loc: tuple[Any, ...], syncs: list[Any]) -> str:
    if len(loc) >= 2 and loc[0] == "syncs" and isinstance(loc[1], int):
        raw = syncs[loc[1]] if loc[1] < len(syncs) else {}
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"sync {loc[1] + 1}" + (f" ({name})" if name else "")
        rest = [str(p) for p in loc[2:]]
        return where + (f", {'.'.join(rest)}" if rest else "")
    return ".".join(str(p) for p in loc)


def _reason(error: dict[str, Any]) -> str:
    if error["type"] == "missing":
        return "missing"
    if error["type"] == "extra_forbidden":
        kind, model = {"account": ("an account", AccountSpec), "syncs": ("a sync", SyncSpec)}.get(
            str(error["loc"][0]), ("a top-level", SyncsFile)
        )
        return f"not {kind} key (keys: {', '.join(model.model_fields)})"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


class RunOptions(BaseModel):
    """How a run treats all of its syncs: declared once, built once from the flow's parameters and the settings,
    and handed to each step as one parameter (its cache key hashes it)."""

    model_config = ConfigDict(frozen=True)

    state: str  # where the sync state lives: a path or an fsspec URL
    dry_run: bool = False
    full_resync: bool = False
    batch_size: int = Field(250, ge=1, le=250)
    pause_timeout: int = Field(3600, ge=0)  # 0: a typed failure stops the run at once
    confirm_timeout_s: float | None = None  # real seconds a queued batch is waited for
    verify_every: int = Field(0, ge=0)  # every Nth run also compares the whole list with its state
    automations: Literal["skip", "run", "new-only"] = "skip"  # for syncs that do not say
    rejected_log: str | None = None  # the rejected-rows file of each list: {state}, {list}, {run}, {when} filled in
    rejected_keep_days: int = Field(30, ge=0)  # a list's rejected-rows files older than this are removed
    rejected_keep_runs: int = Field(20, ge=1)  # and those beyond its newest this many
    work_keep_days: float = Field(7, ge=0)  # a failed run's working copy waits this long for its Retry
    prefect_personal_data: bool = False  # whether Prefect may hold emails and mapped values (settings.py)
    sender_url: str = "https://www.example.com"  # what a list this run creates is given
    sender_reminder: str = "You are receiving this because you signed up with us."
    lock_wait_s: float = 60.0
    alert_rejected_share: float | None = None

    @classmethod
    def of(cls, settings: SyncSettings, **given: Any) -> RunOptions:
        """The options of a run: what its parameters give (None: not given; RUN_PARAMETERS), else the settings'."""
        given = {k: v for k, v in given.items() if v is not None}
        dry_run = bool(given.get("dry_run"))
        if dry_run:
            given["verify_every"] = 0  # a plan only reads: it counts no run towards a verify
        template = given.pop("verbose_log", None) or (settings.verbose_log_path if settings.verbose_log else None)
        return cls(
            state=given.pop("state", None) or settings.state,
            batch_size=given.pop("batch_size", None) or settings.batch_size,
            pause_timeout=0 if dry_run else given.pop("pause_timeout", settings.pause_timeout),
            confirm_timeout_s=settings.confirm_timeout_s,
            automations=settings.automations,
            rejected_log=template,
            sender_url=settings.list_sender_url,
            sender_reminder=settings.list_sender_reminder,
            lock_wait_s=settings.lock_wait_s,
            alert_rejected_share=settings.alert_rejected_share,
            rejected_keep_days=settings.rejected_keep_days,
            rejected_keep_runs=settings.rejected_keep_runs,
            work_keep_days=settings.work_keep_days,
            prefect_personal_data=settings.prefect_personal_data,
            **{k: v for k, v in given.items() if k in ("dry_run", "full_resync", "verify_every")},
        )


# The run's own parameters (the rest of a one-list run's parameters are its sync's): RunOptions.of reads them.
RUN_PARAMETERS = ("state", "verbose_log", "batch_size", "full_resync", "pause_timeout", "dry_run", "verify_every")


class Decisions(BaseModel):
    """What the operator decided for one sync while its run waited (resolutions); the sync's file stays as written."""

    model_config = ConfigDict(frozen=True)

    group_name: str | None = None  # use-group: this title instead of the sync's
    create_group: bool = False
    list_id: int | None = None  # use-list: this list instead of finding it by name
    start_fresh: bool = False  # the old state set aside (STATE_MISMATCH)
    approve_removals: bool = False
    fields: dict[str, Any] = Field(default_factory=dict)  # column -> field (or "-"), over the sync's own `fields`
    create_fields: dict[str, str] = Field(default_factory=dict)  # column -> the type of a field to create
    list_attempt: int = 0  # times the list went away under the run (LIST_GONE), each a new find-or-create

    def group(self, sync: SyncSpec) -> str:
        return self.group_name or sync.group

    def field_choices(self, sync: SyncSpec) -> dict[str, Any]:
        return {**(sync.fields or {}), **self.fields}


def sync_name_for(list_name: str) -> str:
    """A sync's name (letters, digits, '.', '-', '_') for the one list a one-list run syncs."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", list_name).strip("-._")[:64] or "list"


def one_list_sync(
    *,
    audience: str,
    list_name: str | None,
    group_name: str | None,
    campaign: str | None = None,
    list_template: str | None = None,
    settings: SyncSettings | None = None,
    **options: Any,
) -> SyncSpec:
    """The sync of a one-list run (`ac-sync run --audience ...`, the `sync-audience` flow): the list named, or the
    campaign's list its template names; the group and the list from the settings when not given."""
    settings = settings or SyncSettings()
    group = group_name or settings.group_name
    if not group:
        raise ConfigError("name the group (--group, or AC_SYNC_GROUP_NAME)")
    name = list_name or settings.list_name
    if list_template:
        if not campaign:
            raise ConfigError("--list-template needs --campaign NAME")
        try:
            name = list_template.format(campaign_name=campaign, group_name=group)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"--list-template {list_template!r} is not valid: use only {{campaign_name}} and {{group_name}} ({exc})"
            ) from None
        if not name.strip():
            raise ConfigError("--list-template gives an empty list name")
        name = name.strip()
    if not name:
        raise ConfigError("name the list (--list, --campaign with --list-template, or AC_SYNC_LIST_NAME)")
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return SyncSpec(name=sync_name_for(name), audience=audience, list=name, group=group, campaign=campaign, **given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the sync"
        raise ConfigError(f"--{where.replace('_', '-')}: {_reason(first)}") from None
