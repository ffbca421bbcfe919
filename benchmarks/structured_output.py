"""Validation cost per output with a cached compiled validator (structured output, D9).

A 50-property object schema (strings, integers, enums, nested arrays); each sample extracts the
JSON from an agent-like answer (prose around a fenced block) and validates it, or validates a
reported `result_data` directly. Prints JSON: p50/p99 in milliseconds for each path, plus the
one-off cost of compiling the validator. Target: validation p50 < 0.5 ms.

    python benchmarks/structured_output.py [--samples 5000]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from typing import Any

from roundtable.schemas.refs import check
from roundtable.schemas.validators import CACHE, compile_validator, errors_of
from roundtable.structured.extract import extract


def schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for i in range(50):
        kind = i % 5
        if kind == 0:
            properties[f"p{i}"] = {"type": "string", "maxLength": 200}
        elif kind == 1:
            properties[f"p{i}"] = {"type": "integer", "minimum": 0, "maximum": 1000}
        elif kind == 2:
            properties[f"p{i}"] = {"enum": ["low", "medium", "high"]}
        elif kind == 3:
            properties[f"p{i}"] = {"type": "array", "items": {"type": "string"}, "maxItems": 10}
        else:
            properties[f"p{i}"] = {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "boolean"}},
                "required": ["x"],
            }
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


def instance(valid: bool) -> dict[str, Any]:
    values: list[Any] = ["some text", 42, "medium", ["a", "b", "c"], {"x": 1.5, "y": True}]
    out = {f"p{i}": values[i % 5] for i in range(50)}
    if not valid:
        out["p1"] = -1
        out["p2"] = "extreme"
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args()
    gc.freeze()  # the compiled schema and fixtures are long-lived; keep GC pauses out of samples
    body = check(schema()).body
    started = time.perf_counter()
    validator = compile_validator(body, {})
    compile_ms = (time.perf_counter() - started) * 1000
    CACHE.put("bench", validator)
    good, bad = instance(True), instance(False)
    answer = "Here is the result:\n```json\n" + json.dumps(good) + "\n```\nAnything else?"
    assert errors_of(validator, good) == [] and len(errors_of(validator, bad)) == 2
    results: dict[str, list[float]] = {"validate": [], "extract_and_validate": [], "invalid": []}
    for _ in range(args.samples):
        t0 = time.perf_counter()
        errors_of(CACHE.get("bench"), good)
        t1 = time.perf_counter()
        errors_of(CACHE.get("bench"), extract(answer).value)
        t2 = time.perf_counter()
        errors_of(CACHE.get("bench"), bad)
        t3 = time.perf_counter()
        results["validate"].append(t1 - t0)
        results["extract_and_validate"].append(t2 - t1)
        results["invalid"].append(t3 - t2)
    print(
        json.dumps(
            {
                "benchmark": "structured_output",
                "schema_properties": 50,
                "samples": args.samples,
                "compile_ms": round(compile_ms, 3),
                **{name: percentiles(samples) for name, samples in results.items()},
                "target": {
                    "validate_p50_ms_below": 0.5,
                    "met": statistics.median(results["validate"]) * 1000 < 0.5,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
