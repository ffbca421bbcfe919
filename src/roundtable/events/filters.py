"""Which events a reader wants: one filter, evaluated in Python and in SQL with the same meaning.

The bus matches live events in memory (`matches`); backlog pages and polling reads filter in
the database (`where`). Both must agree exactly, or a subscriber would see an event in one phase
that it would not see in the other; tests/events/test_filters.py checks them against each other.

A token bounded to one session tree (a run token) gets a `tree` filter it cannot widen: events
about a session of that tree, and events about one of its projects that no session is named on
(docs/security.md). The bus resolves each event's session to its tree root once per event
(`EventBus`), so matching stays a few comparisons per subscriber.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true

from roundtable.auth.tokens import Principal
from roundtable.errors import InvalidInput
from roundtable.events.log import Event
from roundtable.store import tables
from roundtable.store.dialect import wildcard_match
from roundtable.validation import check_name, check_text

#: A subtree's tombstone: its sessions are gone, so no tree can claim it (`where` agrees).
SESSION_DELETED = "session.deleted"

#: A type pattern: catalogue characters plus `*` (any run of characters, dots included).
_PATTERN = re.compile(r"[a-z0-9_.*-]{1,64}")
MAX_PATTERNS = 32


@dataclass(frozen=True)
class EventFilter:
    """Events matching ALL given fields; `None`/empty means "any".

    `types` are patterns: an exact type (`session.started`), a wildcard (`session.*`,
    `*.ended`) or `*` (everything); an event matches if it matches any of them.
    """

    namespace: str | None = None
    types: tuple[str, ...] = ()
    project: str | None = None
    agent: str | None = None
    session_id: str | None = None
    #: The session tree (its root id) a tree-bounded token is confined to; None: no such bound.
    tree: str | None = None
    #: With `tree`: the projects the token may touch (None: every project of the namespace).
    tree_projects: tuple[str, ...] | None = None
    _regex: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", _type_regex(self.types))

    @classmethod
    def build(
        cls,
        *,
        namespace: str | None = None,
        types: list[str] | tuple[str, ...] | str | None = None,
        project: str | None = None,
        agent: str | None = None,
        session_id: str | None = None,
    ) -> EventFilter:
        """A validated filter (`InvalidInput` on a bad name or pattern). `types` may be a
        comma-separated string (as in a query parameter)."""
        if isinstance(types, str):
            types = types.split(",")
        patterns: list[str] = []
        for pattern in types or ():
            if not isinstance(pattern, str):
                raise InvalidInput("event type patterns must be strings", field="types")
            pattern = pattern.strip()
            if not _PATTERN.fullmatch(pattern):
                raise InvalidInput(
                    f"invalid event type pattern {pattern!r}: use 1-64 of lowercase letters, "
                    "digits, '_', '.', '-' and '*' (any characters), e.g. 'session.*'",
                    field="types",
                )
            if pattern not in patterns:
                patterns.append(pattern)
        if len(patterns) > MAX_PATTERNS:
            raise InvalidInput(f"at most {MAX_PATTERNS} type patterns", field="types")
        return cls(
            namespace=None if namespace is None else check_name("namespace", namespace),
            types=tuple(patterns),
            project=None if project is None else check_name("project", project),
            agent=None if agent is None else check_name("agent", agent),
            session_id=None if session_id is None else _check_session(session_id),
        )

    @classmethod
    def for_principal(
        cls,
        principal: Principal,
        *,
        namespace: str | None = None,
        types: list[str] | tuple[str, ...] | str | None = None,
        project: str | None = None,
        agent: str | None = None,
        session_id: str | None = None,
    ) -> EventFilter:
        """A filter bounded by the caller: an agent token is pinned to its own namespace (naming
        another is `PermissionDenied`); an admin may name one namespace, or none for all. A
        token bounded to a session tree (a run token) sees only that tree (`tree`)."""
        if not principal.admin:
            namespace = principal.namespace_for(namespace, "")
        built = cls.build(
            namespace=namespace, types=types, project=project, agent=agent, session_id=session_id
        )
        if principal.admin or principal.root_session is None:
            return built
        return replace(built, tree=principal.root_session, tree_projects=principal.projects)

    def matches(self, event: Event, root: str | None = None) -> bool:
        """Whether `event` passes (the in-memory twin of `where`). `root` is the tree root of
        `event.session_id` (None if it names none, or no such session exists); only a `tree`
        filter looks at it."""
        return (
            (self.namespace is None or event.namespace == self.namespace)
            and (self.project is None or event.project == self.project)
            and (self.agent is None or event.agent == self.agent)
            and (self.session_id is None or event.session_id == self.session_id)
            and (self._regex is None or self._regex.fullmatch(event.type) is not None)
            and (self.tree is None or self._in_tree(event, root))
        )

    def _in_tree(self, event: Event, root: str | None) -> bool:
        if event.session_id is not None:
            if root != self.tree or event.type == SESSION_DELETED:
                return False
        elif event.project is None:
            return False
        return (
            self.tree_projects is None
            or event.project is None
            or event.project in self.tree_projects
        )

    def where(self, backend: str) -> ColumnElement[bool]:
        """The same test as SQL over `tables.events`, for `backend` ("sqlite"/"postgresql")."""
        e = tables.events.c
        clauses: list[ColumnElement[bool]] = []
        for column, value in (
            (e.namespace, self.namespace),
            (e.project, self.project),
            (e.agent, self.agent),
            (e.session_id, self.session_id),
        ):
            if value is not None:
                clauses.append(column == value)
        if self.types and "*" not in self.types:
            exact = [p for p in self.types if "*" not in p]
            wild = [wildcard_match(backend, e.type, p) for p in self.types if "*" in p]
            clauses.append(or_(*([e.type.in_(exact)] if exact else []), *wild))
        if self.tree is not None:
            s = tables.sessions.c
            in_tree = and_(
                e.session_id.in_(select(s.id).where(s.root_id == self.tree)),
                e.type != SESSION_DELETED,
            )
            clauses.append(or_(in_tree, and_(e.session_id.is_(None), e.project.is_not(None))))
            if self.tree_projects is not None:
                clauses.append(or_(e.project.is_(None), e.project.in_(self.tree_projects)))
        return and_(true(), *clauses)


def _type_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns or "*" in patterns:
        return None
    return re.compile("|".join(".*".join(re.escape(s) for s in p.split("*")) for p in patterns))


def _check_session(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 36:
        raise InvalidInput("session_id must be a session id (1-36 characters)", field="session_id")
    return check_text("session_id", value)
