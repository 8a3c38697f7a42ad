"""The right a request needs, in the operator's words: what a 403 of a valid key says is missing."""

from __future__ import annotations

# By (method, path prefix); "*" is any method. The first match wins.
RIGHTS: tuple[tuple[str, str, str], ...] = (
    ("GET", "groups", "read the user groups (only the Admin group may)"),
    ("POST", "groups", "add a user group"),
    ("GET", "users", "read the users (only the Admin group may)"),
    ("GET", "groupLimits", "read the user groups' limits"),
    ("POST", "lists", "add a list (pgListAdd)"),
    ("POST", "listGroups", "link a list to a group (pgListEdit)"),
    ("POST", "import/bulk_import", "import contacts (pgContactImport)"),
    ("POST", "contact/sync", "add or edit contacts (pgContactAdd, pgContactEdit)"),
    ("POST", "contactLists", "subscribe or unsubscribe contacts (pgContactEdit)"),
    ("*", "contactTags", "tag contacts (pgContactEdit)"),
    ("*", "field", "read or change custom fields (pgContactFields)"),
    ("GET", "contacts", "read contacts"),
    ("GET", "lists", "see the list (its group must be linked to it)"),
)


def right_needed(method: str | None, path: str | None) -> str:
    """The right `method` on `path` (under /api/3) needs; for a request no rule names, the request itself."""
    path = (path or "").lstrip("/")
    for rule_method, prefix, right in RIGHTS:
        if rule_method in ("*", method) and path.startswith(prefix):
            return right
    return f"do {method} /api/3/{path}"
