"""The app includes its busiest routers first (routes are matched one by one, in order). That is
only safe because no request can be matched by routes of two routers (within a router the order
stays as written): checked here for every route, by filling its path parameters and asking the
routes of every other router whether they would take the request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.routing import compile_path

from roundtable.api.app import create_app
from roundtable.config import Settings


def routes(entries: list[Any], owner: int = -1) -> Iterator[tuple[int, str, frozenset[str]]]:
    """(which router, path, methods) of every route, through the included routers (the app's
    own routes: -1)."""
    for index, entry in enumerate(entries):
        included = getattr(entry, "original_router", None)
        if included is not None:
            assert entry.include_context.prefix == ""
            yield from routes(included.routes, owner if owner >= 0 else index)
        elif isinstance(getattr(entry, "path", None), str):
            yield owner, entry.path, frozenset(getattr(entry, "methods", None) or ())


def test_no_request_matches_routes_of_two_routers(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), sweeper=False)
    found = list(routes(app.routes))
    assert any(path.endswith("/runners/{runner_id}/claim") for _, path, _ in found)
    for owner, path, methods in found:
        sample = re.sub(r"\{[^}:]+(:path)?\}", "x", path)
        others = [
            other
            for other_owner, other, other_methods in found
            if other_owner != owner
            and compile_path(other)[0].fullmatch(sample)
            and (methods & other_methods or not methods or not other_methods)
        ]
        assert others == [], (path, others)


def test_no_request_matches_two_routes_of_the_journal_router() -> None:
    """`api/routes.py` puts its busiest routes (append, set_project) first; that reorder is
    safe only because none of its routes takes a request another of them would."""
    from roundtable.api.routes import router

    found = [(route.path, frozenset(route.methods or ())) for route in router.routes]
    assert found[0] == ("/api/v1/namespaces/{namespace}/projects/{project}/entries", {"POST"})
    for index, (path, methods) in enumerate(found):
        sample = re.sub(r"\{[^}:]+(:path)?\}", "x", path)
        others = [
            other
            for other_index, (other, other_methods) in enumerate(found)
            if other_index != index
            and compile_path(other)[0].fullmatch(sample)
            and methods & other_methods
        ]
        assert others == [], (path, others)
