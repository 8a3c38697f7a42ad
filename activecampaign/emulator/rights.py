"""Who may do what in the account: Admin rights, pg* flags, the lists a group sees, group limits.

Pure rules over the account; guards.py turns them into the API's refusals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import PERMISSIONS, AcList, User, truthy
from .state import Account

ADMIN_ONLY = "admin"


def flags_from(data: Mapping[str, Any]) -> dict[str, str]:
    """The pg* flags a group object sets ("1" for 1, "1" or true); flags it leaves out are not granted."""
    return {name: "1" if truthy(data[name]) else "0" for name in PERMISSIONS if name in data}


def has_right(account: Account, user: User, right: str) -> bool:
    """Whether `user` holds `right`: a pg* flag, or ADMIN_ONLY for what only the Admin group may do."""
    group = account.group_of(user)
    if group is None:
        return False
    # Only the Admin group has admin rights, and they include every flag.
    if group.admin:
        return True
    return right != ADMIN_ONLY and group.perms.get(right) == "1"


def sees(account: Account, user: User, lst: AcList) -> bool:
    """Admins see every list; anyone else only the lists linked to their group."""
    group = account.group_of(user)
    return group is not None and (group.admin or group.id in lst.group_ids)


def list_limit_reached(account: Account, user: User) -> int | None:
    """The group's limitList when the user's group has that many lists already, else None (0 = unlimited)."""
    group = account.group_of(user)
    if group is None or group.limit_list <= 0:
        return None
    return group.limit_list if len(account.lists_of_group(group.id)) >= group.limit_list else None


def contact_limit_reached(account: Account, user: User) -> int | None:
    """The group's limitContact when its users have created that many contacts, else None (0 = unlimited)."""
    group = account.group_of(user)
    if group is None or group.limit_contact <= 0:
        return None
    return group.limit_contact if account.contacts_created_by_group(group.id) >= group.limit_contact else None
