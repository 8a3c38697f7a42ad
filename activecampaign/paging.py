"""Walking a list endpoint's pages so that no answer can loop it, repeat an item or cut it short unnoticed.

The reference documents `limit`/`offset` (and, for contacts, keyset paging by `orders[id]=ASC` and
`id_greater`), but not every endpoint honours them (`GET /groups` documents none). So a walk trusts only what
it sees: every item is counted once by id; a page that adds nothing new ends it; `meta.total` bounds the
number of pages; and a walk that ends short of `meta.total` because the endpoint repeats itself is an
UnexpectedAnswerError, never a silently shorter list. Under keyset paging only the first page's `meta.total`
is used: whether a later page's total counts from `id_greater` on or the whole filter is not documented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ac_sync.activecampaign.errors import UnexpectedAnswerError

PAGE_SIZE = 100  # the documented maximum; larger values are clamped or refused depending on the account
# Only for an endpoint that gives no meta.total and never repeats itself: ten million items.
MAX_PAGES_WITHOUT_TOTAL = 100_000


@dataclass
class Walk:
    """The state of one walk: what to ask for next, and whether the last page ended it."""

    method: str
    path: str
    keyset: bool = False
    limit: int = PAGE_SIZE
    seen: set[int] = field(default_factory=set)
    offset: int = 0
    last_id: int = 0
    pages: int = 0
    first_len: int = 0
    first_total: int | None = None
    done: bool = False

    @property
    def where(self) -> str:
        return f"{self.method} /api/3/{self.path}"

    def params(self) -> dict[str, Any]:
        if self.keyset:
            return {"orders[id]": "ASC", "id_greater": self.last_id, "limit": self.limit}
        return {"limit": self.limit, "offset": self.offset}

    def _fail(self, what: str) -> UnexpectedAnswerError:
        return UnexpectedAnswerError(f"{self.where}: {what}", method=self.method, path=self.path)

    def admit(self, ids: Sequence[int], total: int | None) -> list[int]:
        """Take one page's item ids: answer the positions of those not seen before, and set `done`."""
        self.pages += 1
        fresh = []
        for i, item_id in enumerate(ids):
            if item_id not in self.seen:
                self.seen.add(item_id)
                fresh.append(i)
        if ids and not self.first_len:
            self.first_len = len(ids)
        if self.pages == 1:
            self.first_total = total
        if self.keyset:
            # Later totals may count from id_greater on (they shrink) or the whole filter: the first one is both.
            total = self.first_total
        switched = False
        if self.keyset and ids:
            if not fresh and self.pages > 1:
                # id_greater was not applied: the items still come in id order (orders[id] is still asked
                # for), so the ones not seen yet start where the seen ones end.
                self.keyset, self.offset, switched = False, len(self.seen), True
            elif list(ids) != sorted(ids) and (total is None or len(self.seen) < total):
                raise self._fail("the API ignored orders[id]=ASC, so id_greater cannot page it")
            else:
                self.last_id = max(self.last_id, *ids)
        elif not self.keyset:
            self.offset += len(ids)
        short = total is not None and len(self.seen) < total
        if not ids or not short and total is not None:
            self.done = True
        elif not fresh and not switched:
            if short:
                raise self._fail(
                    f"the API ignored paging: page {self.pages} repeated what was read ({len(self.seen)} of "
                    f"meta.total {total})"
                )
            self.done = True
        cap = math.ceil(total / self.first_len) + 2 if total and self.first_len else MAX_PAGES_WITHOUT_TOTAL
        if not self.done and self.pages >= cap:
            raise self._fail(f"{self.pages} pages read and still {len(self.seen)} of meta.total {total}")
        return fresh
