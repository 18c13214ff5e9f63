"""schemathesis against the OpenAPI spec: whatever a caller sends, no endpoint answers 5xx.

Bounded (a couple of dozen valid and invalid examples per operation) so it stays well under a minute.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from finrisk.api import Role

from ._fuzz import STORE_ROUTES, fuzz_for_server_errors

pytestmark = pytest.mark.slow

def test_no_server_errors_on_lists_rulesets_keys_and_metrics(app: FastAPI, role_keys: dict[Role, str]) -> None:
    sent, failures = fuzz_for_server_errors(
        app, role_keys[Role.ADMIN], max_examples=6, keep=lambda path: path.startswith(STORE_ROUTES)
    )
    assert sent >= 120
    assert failures == []
