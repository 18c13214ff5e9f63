"""schemathesis against the OpenAPI spec: whatever a caller sends, no endpoint answers 5xx.

Bounded (a couple of dozen valid and invalid examples per operation) so it stays well under a minute.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from finrisk.api import Role

from ._fuzz import fuzz_for_server_errors

pytestmark = pytest.mark.slow

# Decisions and events need the decision engine, which StoresOnlyService lacks (it answers 503 on
# purpose); test_decisions_routes.py fuzzes them against the real service.
NEEDS_ENGINE = ("/v1/decisions", "/v1/events", "/v1/credit")


def test_no_server_errors_on_lists_rulesets_keys_and_metrics(app: FastAPI, role_keys: dict[Role, str]) -> None:
    sent, failures = fuzz_for_server_errors(
        app, role_keys[Role.ADMIN], max_examples=6, keep=lambda path: not path.startswith(NEEDS_ENGINE)
    )
    assert sent >= 120
    assert failures == []
