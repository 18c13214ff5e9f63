"""Drive schemathesis over every operation of an app's OpenAPI spec and collect 5xx answers."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode


def fuzz_for_server_errors(
    app: FastAPI, key: str, *, max_examples: int, keep: Callable[[str], bool] = lambda path: True
) -> tuple[int, list[str]]:
    """Send valid and invalid requests to every kept operation; return (requests sent, 5xx descriptions)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    sent = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if not keep(operation.path):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case, mode: GenerationMode = mode) -> None:
                nonlocal sent
                response = case.call(headers={"X-API-Key": key})
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} ({mode}) -> {response.status_code}: "
                                    f"{response.text[:300]}")

            try:
                run()
            except Unsatisfiable:
                # Nothing can be made invalid (an operation without parameters or body): fine.
                assert mode is GenerationMode.NEGATIVE, operation.path
    return sent, failures
