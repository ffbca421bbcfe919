"""Who may see which documents (D7): the token's scope AND the request's filters.

Every document belongs to its namespace and to one scope: namespace-wide (`root_session` ''),
or one session tree (its root session's id). A caller's `View` is the set of scopes it may
reach: a token scoped to a tree reaches that tree and the namespace-wide documents; a token
without a scope (today's agent tokens, the admin token) reaches every scope of its namespace.
A request's filters (a session id, `scope`, `root_session`) only ever narrow that set; asking
for a scope outside it is refused (403) rather than silently answered from the narrower one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true

from roundtable.auth.tokens import Principal
from roundtable.documents.models import ScopeName
from roundtable.errors import InvalidInput, NotFound, PermissionDenied
from roundtable.store import tables
from roundtable.store.engine import Conn
from roundtable.validation import check_text

#: The `root_session` value of namespace-wide documents.
NAMESPACE = ""

READ = "documents:read"
WRITE = "documents:write"


@dataclass(frozen=True)
class View:
    """The scopes a request may reach in `namespace` (None: all of them), and the caller's own
    session tree if it has one (where its new documents go by default)."""

    namespace: str
    roots: frozenset[str] | None
    tree: str | None

    def sees(self, root_session: str) -> bool:
        return self.roots is None or root_session in self.roots

    def predicate(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """The SQL form of `sees`, for lists and searches."""
        return true() if self.roots is None else column.in_(sorted(self.roots))


async def tree_of(conn: Conn, namespace: str, session_id: str) -> str:
    """The root session of `session_id`'s tree (404 if there is no such session here)."""
    check_text("session_id", session_id)
    S = tables.sessions
    root = (
        await conn.execute(
            select(S.c.root_id).where(S.c.id == session_id, S.c.namespace == namespace)
        )
    ).scalar()
    if root is None:
        raise NotFound(f"no session {session_id} in namespace {namespace!r}", session_id=session_id)
    return str(root)


def _narrow(roots: frozenset[str] | None, to: frozenset[str], what: str) -> frozenset[str]:
    if roots is not None and not to <= roots:
        raise PermissionDenied(f"{what} is outside this token's scope", scope=sorted(to))
    return to


async def view(
    conn: Conn,
    principal: Principal,
    namespace: str,
    perm: str,
    *,
    session_id: str | None = None,
    scope: ScopeName | None = None,
    root_session: str | None = None,
) -> View:
    """The one decision on document access: the token's scope AND the request's filters.

    `session_id` places the caller in that session's tree (reads see the tree and the
    namespace; writes default to the tree); `scope` keeps only the namespace-wide documents or
    only the tree's; `root_session` (a filter for people and tools) keeps only that tree's.
    """
    principal.require(perm)
    token_root = None if principal.admin else principal.root_session
    roots = None if token_root is None else frozenset({NAMESPACE, token_root})
    tree = token_root
    if session_id is not None:
        tree = await tree_of(conn, namespace, session_id)
        roots = _narrow(roots, frozenset({NAMESPACE, tree}), f"session {session_id}'s tree")
    if root_session is not None:
        check_text("root_session", root_session)
        if not root_session:
            raise InvalidInput("root_session must be a session id", field="root_session")
        roots = _narrow(roots, frozenset({root_session}), f"tree {root_session}")
        tree = root_session
    if scope == "namespace":
        roots = _narrow(roots, frozenset({NAMESPACE}), "the namespace scope")
    elif scope == "tree":
        if tree is None:
            raise InvalidInput(
                "scope=tree needs a session tree: pass session_id (or use a tree-scoped token)",
                field="scope",
            )
        roots = _narrow(roots, frozenset({tree}), f"tree {tree}")
    elif scope is not None:
        raise InvalidInput("scope must be namespace or tree", field="scope")
    return View(namespace=namespace, roots=roots, tree=tree)
