"""Fault rules: make chosen requests fail the ways a real account and network can.

A rule is a JSON object:

    {"method": "POST" | "*", "path": "<regex, re.search on the path>",
     "match_query": "<regex on the raw query string>",            # optional
     "match_json": {"listGroup.groupid": 5},                        # optional, dotted paths into the
                                                                    # JSON body, compared as strings
     one action:
       "status": 402, "body": {...} | "text", "retry_after": 2.5   # answer this instead; with
       "content_type": "text/html"                                 # the body is sent as that type (a
                                                                   # 200 HTML page, or an empty 200
                                                                   # with no body at all)
       "drop_connection": true                                     # close the connection, no effect
       "drop_after_effect": true                                   # apply the request, then close
       "delay_s": 3.0                                              # real seconds, then answer normally
                                                                   # (may also precede status or a drop)
     "after_effect": true   with status (and body), or delay_s: the request is applied first, then answered
                            that way (a 500 or an HTML page for a create that was made, or its own answer
                            delay_s late, past a client's timeout)
       "import_status": "failed" | "interrupted" | "false", "hold_s": 2.0   # bulk_import POSTs only
     optional frequency (all given ones must agree; none = every matching request):
       "times": N, "every": N, "probability": 0.3, "seed": 7}

"times" acts on the first N matching requests, "every" on every Nth, "probability" draws from the rule's
own random.Random(seed). Rules are tried in order and the first that acts decides. Request rules act on
arrival, before the rate limiter and the key check; import_status rules act when a bulk import batch is
queued (after validation), so a rejected request does not use them up. A dropped connection is logged
with status 0.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

IMPORT_STATUSES = ("failed", "interrupted", "false")

_KNOWN_KEYS = {
    "method",
    "path",
    "match_query",
    "match_json",
    "status",
    "body",
    "content_type",
    "retry_after",
    "drop_connection",
    "drop_after_effect",
    "after_effect",
    "delay_s",
    "import_status",
    "hold_s",
    "times",
    "every",
    "probability",
    "seed",
}


class FaultError(ValueError):
    """A fault rule the emulator cannot follow."""


@dataclass
class RequestInfo:
    method: str
    path: str
    query: str
    body: bytes
    _parsed: Any = field(default=None, init=False, repr=False)
    _parsed_done: bool = field(default=False, init=False, repr=False)

    def json(self) -> Any:
        if not self._parsed_done:
            self._parsed_done = True
            try:
                self._parsed = json.loads(self.body) if self.body else None
            except ValueError:
                self._parsed = None
        return self._parsed


@dataclass
class FaultRule:
    source: dict[str, Any]
    method: str
    path: re.Pattern[str]
    query: re.Pattern[str] | None
    match_json: dict[str, Any]
    status: int | None
    body: Any
    content_type: str | None
    retry_after: float | None
    drop: str | None  # None, "before" or "after" the request's effect
    after_effect: bool  # the status (or the delay) comes after the request was applied
    delay_s: float
    import_status: str | None
    hold_s: float
    times: int | None
    every: int | None
    probability: float | None
    rng: random.Random
    matched: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, raw: Any) -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultError("each rule must be a JSON object")
        unknown = set(raw) - _KNOWN_KEYS
        if unknown:
            raise FaultError(f"unknown rule keys: {', '.join(sorted(unknown))}")
        drop = "after" if raw.get("drop_after_effect") else "before" if raw.get("drop_connection") else None
        import_status = raw.get("import_status")
        if import_status is not None and import_status not in IMPORT_STATUSES:
            raise FaultError(f"import_status must be one of {', '.join(IMPORT_STATUSES)}")
        status = _optional_int(raw, "status")
        delay_s = _number(raw, "delay_s")
        actions = [a for a in (status is not None, drop is not None, import_status is not None) if a]
        if len(actions) > 1:
            raise FaultError("a rule takes one action: status, drop_connection/drop_after_effect or import_status")
        if not actions and not delay_s:
            raise FaultError("a rule needs an action: status, drop_connection, delay_s or import_status")
        if import_status is not None and delay_s:
            # Batch rules are consulted when a batch is queued, not when the request arrives.
            raise FaultError("delay_s cannot accompany import_status; use hold_s to delay a batch")
        if status is not None and not 100 <= status <= 599:
            raise FaultError("status must be an HTTP status code")
        match_json = raw.get("match_json") or {}
        if not isinstance(match_json, dict):
            raise FaultError("match_json must be an object of dotted paths to values")
        probability = raw.get("probability")
        if probability is not None and (
            isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1
        ):
            raise FaultError("probability must be a number between 0 and 1")
        retry_after = raw.get("retry_after")
        if retry_after is not None:
            retry_after = _number(raw, "retry_after")
        content_type = raw.get("content_type")
        if content_type is not None and (not isinstance(content_type, str) or status is None):
            raise FaultError("content_type must be a media type string, and needs a status")
        after_effect = bool(raw.get("after_effect"))
        if after_effect and (drop is not None or import_status is not None or (status is None and not delay_s)):
            raise FaultError("after_effect goes with a status or a delay_s")
        return cls(
            source=dict(raw),
            method=str(raw.get("method", "*")).upper(),
            path=_regex(raw.get("path", ""), "path"),
            query=_regex(raw["match_query"], "match_query") if raw.get("match_query") is not None else None,
            match_json=match_json,
            status=status,
            body=raw.get("body"),
            content_type=content_type,
            retry_after=retry_after,
            drop=drop,
            after_effect=after_effect,
            delay_s=delay_s,
            import_status=import_status,
            hold_s=_number(raw, "hold_s"),
            times=_positive(raw, "times"),
            every=_positive(raw, "every"),
            probability=None if probability is None else float(probability),
            rng=random.Random(raw.get("seed")),
        )

    def matches(self, request: RequestInfo) -> bool:
        if self.method not in ("*", request.method.upper()):
            return False
        if not self.path.search(request.path):
            return False
        if self.query is not None and not self.query.search(request.query):
            return False
        return all(_lookup(request.json(), key) == _text(value) for key, value in self.match_json.items())

    def fire(self) -> bool:
        """Count one matching request and decide whether the rule acts on it."""
        self.matched += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.every is not None and self.matched % self.every:
            return False
        # Drawn for every counted match so a seeded rule's sequence does not depend on the other keys.
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {**self.source, "matched": self.matched, "fired": self.fired}


class FaultSet:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def replace(self, raw_rules: Any) -> None:
        if not isinstance(raw_rules, list):
            raise FaultError("rules must be a list")
        self.rules = [FaultRule.from_dict(raw) for raw in raw_rules]

    def clear(self) -> None:
        self.rules = []

    def request_fault(self, request: RequestInfo) -> FaultRule | None:
        """The first rule that acts on this request as a whole; later rules are not consulted."""
        return self._first(request, batch_rules=False)

    def import_fault(self, request: RequestInfo) -> FaultRule | None:
        """The first rule that decides how an accepted bulk import batch ends."""
        return self._first(request, batch_rules=True)

    def _first(self, request: RequestInfo, batch_rules: bool) -> FaultRule | None:
        for rule in self.rules:
            if (rule.import_status is not None) == batch_rules and rule.matches(request) and rule.fire():
                return rule
        return None


def _lookup(document: Any, dotted: str) -> str | None:
    node = document
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return _text(node)


def _text(value: Any) -> str:
    # So that 5 and "5" compare equal: the API itself mixes integer and string ids.
    return json.dumps(value) if isinstance(value, dict | list | bool) or value is None else str(value)


def _regex(pattern: Any, key: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise FaultError(f"{key} must be a regular expression string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FaultError(f"{key} is not a valid regular expression: {exc}") from exc


def _number(raw: dict[str, Any], key: str) -> float:
    value = raw.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"{key} must be a non-negative number")
    return float(value)


def _optional_int(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{key} must be an integer")
    return value


def _positive(raw: dict[str, Any], key: str) -> int | None:
    value = _optional_int(raw, key)
    if value is not None and value < 1:
        raise FaultError(f"{key} must be at least 1")
    return value
