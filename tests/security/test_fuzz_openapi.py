"""The fuzzing gate (issue 15): schemathesis drives every operation of the live server's OpenAPI
document, on each backend, with valid and invalid inputs (bounded: `EXAMPLES` per operation),
half of them aimed at an existing namespace and project so they reach past the 404s. Checks:
no 5xx, every status code documented, every response conforming to its schema. A failure it
finds is fixed and kept as a regression test (tests/security/test_bad_numbers.py and friends)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Serve

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
#: Streams never end by themselves; they have their own tests (tests/api/test_events_*.py).
SKIP = ("/stream",)
KNOWN = {"namespace": "default", "project": "web", "agent": "alice"}


def _strategy(operation: Any) -> Any:
    names = {p.name for p in operation.path_parameters}
    known = {k: v for k, v in KNOWN.items() if k in names}
    choices = [operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)]
    if known:
        choices.append(operation.as_strategy(path_parameters=known))
        choices.append(operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known))
    return st.one_of(choices)


def test_the_live_server_conforms_to_its_openapi(serve: Serve) -> None:
    with serve(max_wait_seconds=0.5, write_burst=100_000, write_rate_per_second=100_000) as server:
        h = server.headers
        assert httpx.post(f"{server.api()}/projects", json={"name": "web"}, headers=h).is_success
        entries = [{"message": f"entry {i}", "meta": {"i": i}} for i in range(10)]
        r = httpx.post(
            f"{server.api()}/projects/web/entries",
            json={"agent": "alice", "entries": entries},
            headers=h,
        )
        assert r.status_code == 201
        # A generous timeout, as for the calls below: this only proves the document is served.
        document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
        schema = schemathesis.openapi.from_dict(document)
        failures: dict[str, str] = {}
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if any(part in operation.path for part in SKIP):
                continue
            operations += 1

            @hsettings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            @given(case=_strategy(operation))
            def run(case: Any) -> None:
                case.call_and_validate(base_url=server.url, headers=h, checks=CHECKS, timeout=30)

            try:
                run()
            except Exception as exc:  # collect every operation's failure, then report them all
                failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
        assert operations >= 20
        if failures:
            pytest.fail("\n\n".join(f"{op}\n{text}" for op, text in failures.items()))
