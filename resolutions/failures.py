"""The typed failures an operator can fix, by code: the engine's (`SyncFailure`s) and the client's (errors of the
ActiveCampaign boundary that carry a code), each raised where it is found out; here only their registry.

A failure reaches resolutions as the run's `FailureRecord` (ac_sync.engine.errors): its code picks the playbook,
the form and the actions; its context fills the playbook in. It never carries the API key.
"""

from __future__ import annotations

from typing import Any

from ac_sync.activecampaign import errors as api_errors
from ac_sync.engine.errors import SYNC_FAILURES, FailureRecord


def _api_codes() -> dict[str, str]:
    found: dict[str, str] = {}
    stack: list[type[api_errors.ACError]] = [api_errors.ACError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code:
            found.setdefault(code, str(getattr(cls, "title", None) or code))
    return found


# code -> title, for every failure a run can pause on.
TYPED: dict[str, str] = {**_api_codes(), **{code: cls.title for code, cls in SYNC_FAILURES.items()}}


def example(code: str, message: str, *, step: str, **context: Any) -> FailureRecord:
    """A record of the typed failure `code`, as a run would keep it (playbooks shown without a run, tests)."""
    return FailureRecord(
        code=code,
        title=TYPED[code],
        message=message,
        step=step,
        kind="typed",
        context={k: v for k, v in context.items() if v is not None},
    )
