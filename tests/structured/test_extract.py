"""Extraction on realistic agent answers: whole JSON, fenced blocks, the first balanced value."""

from __future__ import annotations

from typing import Any

import pytest

from roundtable.structured.extract import NotFound, extract

FENCE = "```"

CORPUS: list[tuple[str, str, Any, str]] = [
    (
        "bare object",
        '{"verdict": "approve", "score": 7}',
        {"verdict": "approve", "score": 7},
        "whole",
    ),
    ("whitespace around", '\n\n  {"a": 1}\n ', {"a": 1}, "whole"),
    ("top-level array", '[{"id": 1}, {"id": 2}]', [{"id": 1}, {"id": 2}], "whole"),
    ("a bare string is JSON", '"done"', "done", "whole"),
    (
        "prose around JSON",
        'Sure! Here is my review:\n{"verdict": "reject", "reasons": ["no tests"]}\nHope it helps.',
        {"verdict": "reject", "reasons": ["no tests"]},
        "balanced",
    ),
    (
        "fenced json block",
        f'The result:\n{FENCE}json\n{{"ok": true}}\n{FENCE}\nDone.',
        {"ok": True},
        "fenced",
    ),
    (
        "several fenced blocks: the first that parses",
        f'Draft:\n{FENCE}json\n{{"ok": tru\n{FENCE}\nFinal:\n{FENCE}json\n{{"ok": false}}\n{FENCE}',
        {"ok": False},
        "fenced",
    ),
    (
        "a python block is skipped, the json one taken",
        f"{FENCE}python\nprint({{'a': 1}})\n{FENCE}\n{FENCE}JSON\n[1, 2]\n{FENCE}",
        [1, 2],
        "fenced",
    ),
    (
        "bare fence",
        f'{FENCE}\n{{"n": null}}\n{FENCE}',
        {"n": None},
        "fenced",
    ),
    (
        "nested braces inside strings",
        'Answer: {"code": "if (x) { return \\"}\\"; }", "lines": [1, {"d": "]"}]} -- end',
        {"code": 'if (x) { return "}"; }', "lines": [1, {"d": "]"}]},
        "balanced",
    ),
    (
        "braces in prose before the JSON",
        'Using the {template} you gave, result: {"a": [1, 2, {"b": {}}]}',
        {"a": [1, 2, {"b": {}}]},
        "balanced",
    ),
    (
        "array at top level after prose",
        'Items found: ["x", "y"] (two).',
        ["x", "y"],
        "balanced",
    ),
    (
        "a trailing comma is not repaired; a later valid value is taken",
        'First try {"a": 1,} then {"a": 2}',
        {"a": 2},
        "balanced",
    ),
]

FAILURES: list[tuple[str, str, str]] = [
    ("empty", "   ", "empty"),
    ("no JSON at all", "I could not finish the review, sorry.", "no JSON value"),
    ("trailing comma only", '{"a": 1, "b": 2,}', "trailing commas"),
    ("truncated JSON", '{"verdict": "approve", "reasons": ["good", "tes', "truncated"),
    ("truncated inside a fence", f'{FENCE}json\n{{"a": [1, 2\n{FENCE}', "no valid JSON"),
]


@pytest.mark.parametrize(
    ("text", "expected", "how"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_extracts(text: str, expected: Any, how: str) -> None:
    found = extract(text)
    assert found.value == expected
    assert found.how == how


@pytest.mark.parametrize(("text", "says"), [c[1:] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_refuses_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(NotFound, match=says):
        extract(text)


def test_a_huge_unbalanced_answer_is_refused_quickly() -> None:
    with pytest.raises(NotFound):
        extract("{" * 100 + "[" + "1," * 400_000)
