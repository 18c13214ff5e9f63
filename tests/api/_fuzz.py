"""Drive schemathesis over every operation of an app's OpenAPI spec and collect 5xx answers."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation

# StoresOnlyService (conftest) has the real list and rule-set stores but no decision engine (its
# decide answers 503 on purpose): test_fuzz.py fuzzes these routes over it, and
# test_decisions_routes.py fuzzes every other route against the real DecisionService.
STORE_ROUTES = ("/v1/lists", "/v1/rulesets", "/v1/keys", "/metrics", "/health")


def _runner(operation: APIOperation, mode: GenerationMode, key: str, max_examples: int,
            outcomes: list[str | None]) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"X-API-Key": key})
        failure = None
        if response.status_code >= 500:
            failure = f"{case.method} {case.formatted_path} ({mode}) -> {response.status_code}: {response.text[:300]}"
        outcomes.append(failure)

    return run  # type: ignore[no-any-return]


def fuzz_for_server_errors(
    app: FastAPI, key: str, *, max_examples: int, keep: Callable[[str], bool] = lambda path: True
) -> tuple[int, list[str]]:
    """Send valid and invalid requests to every kept operation; return (requests sent, 5xx descriptions)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    outcomes: list[str | None] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if not keep(operation.path):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _runner(operation, mode, key, max_examples, outcomes)()
            except Unsatisfiable:
                # Nothing can be made invalid (an operation without parameters or body): fine.
                assert mode is GenerationMode.NEGATIVE, operation.path
    return len(outcomes), [f for f in outcomes if f is not None]
