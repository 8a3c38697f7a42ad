"""Which audience column goes where: standard contact fields by their spreadsheet spellings, custom fields by
perstag or title, explicit `--field COLUMN=FIELD` choices — and every column either mapped or reported.

Names compare case-, space-, dash- and underscore-insensitively ("E-mail", "Email Address" and "email_address"
are one name). A column that matches a standard field's spelling goes there; otherwise it goes to the one custom
field whose perstag or title matches it; a column that matches none is listed as unmapped, never an error. Two
fields matching one column (AmbiguousField), or an explicit choice naming no field (UnknownField), is a typed
failure the operator resolves — found before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ac_sync.engine.errors import AmbiguousField, AudienceError, ConfigError, UnknownField

from .fields import Column

# The standard targets, with the spellings exports from spreadsheets and CRMs use (compared by name_key).
STANDARD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "email address", "mail", "e-mail address", "mail address", "primary email"),
    "first_name": ("first name", "firstname", "first", "given name", "forename", "fname"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "lname"),
    "phone": ("phone", "phone number", "mobile", "mobile phone", "mobile number", "cell", "cell phone", "telephone"),
    "tags": ("tags", "tag"),
}
STANDARD = tuple(STANDARD_SPELLINGS)
IGNORE = "-"
# ActiveCampaign's custom field types; anything else (the reference shows "") is treated as text.
TEXT_TYPES = ("text", "textarea", "hidden")
FIELD_TYPES = (*TEXT_TYPES, "date", "datetime", "dropdown", "radio", "listbox", "checkbox")
CHOICE_TYPES = ("dropdown", "radio")
MULTI_TYPES = ("listbox", "checkbox")


def name_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


_STANDARD_BY_KEY = {name_key(s): target for target, spellings in STANDARD_SPELLINGS.items() for s in spellings}


@dataclass(frozen=True)
class AccountField:
    """A custom field of the account, as discovered: what mapping and value checks need."""

    id: int
    title: str
    perstag: str
    type: str = "text"
    options: tuple[str, ...] = ()  # the options' own values, for dropdown, radio, listbox and checkbox
    lists: frozenset[int] = frozenset()  # related list ids; 0 means every list
    required: bool = False

    @property
    def kind(self) -> str:
        return self.type if self.type in FIELD_TYPES else "text"

    def related_to(self, list_id: int) -> bool:
        return 0 in self.lists or list_id in self.lists


@dataclass(frozen=True)
class Target:
    """Where a column's values go: a standard contact field, or a custom field."""

    standard: str | None = None
    field: AccountField | None = None

    @property
    def key(self) -> str:
        """Stable name in the change hash and the sync state: the standard name, or `f<field id>`."""
        return self.standard if self.standard else f"f{self.field.id}"  # type: ignore[union-attr]

    @property
    def label(self) -> str:
        """How summaries show it: standard targets by name, custom fields by perstag."""
        return self.standard if self.standard else self.field.perstag  # type: ignore[union-attr]


@dataclass(frozen=True)
class ColumnMap:
    column: Column
    target: Target
    clear_empty: bool = False


@dataclass(frozen=True)
class ColumnChoice:
    """What the operator chose for one column: a target (`-` to ignore it) and whether an empty cell clears."""

    target: str
    clear_empty: bool | None = None  # None: the run's --clear-empty


@dataclass(frozen=True)
class ColumnMapping:
    """The decided mapping of one audience: what each column feeds, and what feeds nothing."""

    maps: tuple[ColumnMap, ...]
    unmapped: tuple[str, ...] = ()  # columns that match nothing
    ignored: tuple[str, ...] = ()  # columns ignored on purpose (`--field COLUMN=-`)

    def standard(self, name: str) -> Column | None:
        return next((m.column for m in self.maps if m.target.standard == name), None)

    @property
    def custom(self) -> tuple[ColumnMap, ...]:
        """The custom-field maps, ordered by field id (the change hash and the payload use this order)."""
        return tuple(sorted((m for m in self.maps if m.target.field), key=lambda m: m.target.field.id))  # type: ignore[union-attr]

    @property
    def clear_empty(self) -> tuple[str, ...]:
        """Keys (Target.key) of the targets an empty cell clears."""
        return tuple(m.target.key for m in self.maps if m.clear_empty and m.target.standard != "email")

    def as_summary(self) -> dict[str, str]:
        return {m.column.name: m.target.label for m in self.maps}

    @property
    def sent_nowhere(self) -> list[str]:
        return [*self.unmapped, *self.ignored]


def parse_choices(pairs: Iterable[str]) -> dict[str, ColumnChoice]:
    """`COLUMN=FIELD` pairs (`--field`); `COLUMN=-` ignores the column."""
    out: dict[str, ColumnChoice] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ConfigError(
                f"--field takes COLUMN=FIELD (FIELD a perstag, title or id, or - to ignore); got {pair!r}"
            )
        out[column.strip()] = ColumnChoice(target.strip())
    return out


def choices_from_document(doc: Any, where: str) -> dict[str, ColumnChoice]:
    """A mapping file's content: `COLUMN: FIELD` pairs, or `COLUMN: {field: FIELD, clear_empty: true}`."""
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected COLUMN: FIELD pairs, one per line")
    out: dict[str, ColumnChoice] = {}
    for column, value in doc.items():
        if isinstance(value, Mapping):
            target, clear = value.get("field"), value.get("clear_empty")
            unknown = set(value) - {"field", "clear_empty"}
            if unknown or not isinstance(target, str | int) or (clear is not None and not isinstance(clear, bool)):
                raise ConfigError(f"{where}: {column}: expected {{field: FIELD, clear_empty: true|false}}")
            out[str(column)] = ColumnChoice(str(target), clear)
        elif isinstance(value, str | int) and str(value).strip():
            out[str(column)] = ColumnChoice(str(value).strip())
        else:
            raise ConfigError(f"{where}: {column}: the field must be a perstag, title, id, or - to ignore the column")
    return out


def choices_as_params(choices: Mapping[str, ColumnChoice]) -> dict[str, Any]:
    """The choices as plain data (flow parameters): COLUMN -> FIELD, or COLUMN -> {field, clear_empty}."""
    return {
        col: c.target if c.clear_empty is None else {"field": c.target, "clear_empty": c.clear_empty}
        for col, c in choices.items()
    }


def find_fields(wanted: str, fields: Sequence[AccountField]) -> list[AccountField]:
    """The fields a name or id designates: by id, else by perstag, else by title."""
    text = wanted.strip()
    if text.isdigit():
        return [f for f in fields if f.id == int(text)]
    key = name_key(text)
    by_tag = [f for f in fields if name_key(f.perstag) == key]
    by_title = [f for f in fields if name_key(f.title) == key and f not in by_tag]
    return by_tag + by_title


def map_columns(
    columns: Sequence[Column],
    fields: Sequence[AccountField] | None,
    choices: Mapping[str, ColumnChoice] | None = None,
    *,
    clear_empty: bool = False,
) -> ColumnMapping:
    """Decide every column's target. `fields` None: the account's fields are not known (only the email counts)."""
    choices = dict(choices or {})
    by_key = {name_key(c.name): c for c in columns}
    for name in choices:
        if name_key(name) not in by_key:
            listed = ", ".join(c.name for c in columns) or "none"
            raise ConfigError(
                f"--field names the column {name!r}, which the audience does not have (columns: {listed})"
            )
    chosen = {name_key(name): choice for name, choice in choices.items()}
    maps: list[ColumnMap] = []
    unmapped: list[str] = []
    ignored: list[str] = []
    for column in columns:
        choice = chosen.get(name_key(column.name))
        if choice is not None and choice.target == IGNORE:
            ignored.append(column.name)
            continue
        target = _target(column, choice, fields)
        if target is None:
            unmapped.append(column.name)
            continue
        wants_clear = clear_empty if choice is None or choice.clear_empty is None else choice.clear_empty
        maps.append(ColumnMap(column, target, wants_clear))
    mapping = ColumnMapping(tuple(maps), tuple(unmapped), tuple(ignored))
    _check_unique(mapping, columns)
    return mapping


def _target(column: Column, choice: ColumnChoice | None, fields: Sequence[AccountField] | None) -> Target | None:
    wanted = choice.target if choice is not None else column.name
    standard = _STANDARD_BY_KEY.get(name_key(wanted))
    if standard is not None:
        return Target(standard=standard)
    if fields is None:
        return None
    found = find_fields(wanted, fields)
    if len(found) == 1:
        return Target(field=found[0])
    if len(found) > 1:
        names = ", ".join(f"{f.perstag} (id {f.id}, {f.title!r})" for f in found)
        raise AmbiguousField(
            f"column {column.name!r} matches {len(found)} custom fields: {names}",
            column=column.name,
            wanted=wanted,
            candidates=[f"{f.perstag} (id {f.id})" for f in found],
        )
    if choice is not None:
        raise UnknownField(
            f"column {column.name!r} is mapped to {wanted!r}, but no custom field has that perstag, title or id",
            column=column.name,
            wanted=wanted,
        )
    return None


def _check_unique(mapping: ColumnMapping, columns: Sequence[Column]) -> None:
    by_target: dict[str, list[str]] = {}
    for m in mapping.maps:
        by_target.setdefault(m.target.key, []).append(m.column.name)
    for maps in by_target.values():
        if len(maps) > 1:
            target = next(m.target for m in mapping.maps if m.column.name == maps[0])
            names = ", ".join(maps)
            raise AudienceError(
                f"the audience has {len(maps)} columns for '{target.label}' ({names}); keep one, or ignore the others "
                f"with --field COLUMN=-"
            )
    if mapping.standard("email") is None:
        listed = ", ".join(c.name for c in columns) or "none"
        raise AudienceError(f"the audience has no 'email' column (columns found: {listed})")


def mapping_to_json(mapping: ColumnMapping) -> str:
    def target(t: Target) -> dict[str, Any]:
        if t.field is None:
            return {"standard": t.standard}
        f = t.field
        return {
            "field": {
                "id": f.id,
                "title": f.title,
                "perstag": f.perstag,
                "type": f.type,
                "options": list(f.options),
                "lists": sorted(f.lists),
                "required": f.required,
            }
        }

    return json.dumps(
        {
            "maps": [
                {
                    "column": [m.column.name, m.column.type, m.column.sql_name],
                    "target": target(m.target),
                    "clear_empty": m.clear_empty,
                }
                for m in mapping.maps
            ],
            "unmapped": list(mapping.unmapped),
            "ignored": list(mapping.ignored),
        }
    )


def mapping_from_json(text: str) -> ColumnMapping:
    data = json.loads(text)

    def target(raw: dict[str, Any]) -> Target:
        if "standard" in raw:
            return Target(standard=raw["standard"])
        f = raw["field"]
        return Target(
            field=AccountField(
                f["id"], f["title"], f["perstag"], f["type"], tuple(f["options"]), frozenset(f["lists"]), f["required"]
            )
        )

    maps = tuple(ColumnMap(Column(*m["column"]), target(m["target"]), m["clear_empty"]) for m in data["maps"])
    return ColumnMapping(maps, tuple(data["unmapped"]), tuple(data["ignored"]))
