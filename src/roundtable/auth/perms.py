"""Permission names a token's `perms` claim may carry, outside the documents area.

`journal:write` guards every journal write (create a project, append, sign a checkpoint, rotate,
set a mirror); like `documents:*`, a token without a `perms` claim has it. `runners:register`
is different: only the admin token or a token that names it explicitly may register a runner,
since a runner receives every matching run of its namespace, prompts and run tokens included
(docs/security.md).
"""

from __future__ import annotations

from roundtable.auth.tokens import Principal
from roundtable.errors import PermissionDenied

JOURNAL_WRITE = "journal:write"
RUNNERS_REGISTER = "runners:register"


def require_journal_write(principal: Principal | None) -> None:
    """403 `permission_denied` unless the caller may write journals (None: a local caller)."""
    if principal is not None:
        principal.require(JOURNAL_WRITE)


def require_runner_registration(principal: Principal) -> None:
    """403 unless the caller is the admin or its token names `runners:register` explicitly."""
    if principal.admin or (principal.perms is not None and RUNNERS_REGISTER in principal.perms):
        return
    raise PermissionDenied(
        f"registering a runner needs the admin token or a token granted {RUNNERS_REGISTER!r}",
        permission=RUNNERS_REGISTER,
    )
