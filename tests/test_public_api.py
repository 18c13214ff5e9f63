from __future__ import annotations

import importlib

import pytest

MODULES = [
    "finrisk",
    "finrisk.api",
    "finrisk.api.app",
    "finrisk.api.auth",
    "finrisk.api.keys",
    "finrisk.api.metrics",
    "finrisk.errors",
    "finrisk.events",
    "finrisk.events.schema",
    "finrisk.events.validate",
    "finrisk.features",
    "finrisk.graph",
    "finrisk.models",
    "finrisk.models.evaluate",
    "finrisk.models.metrics",
    "finrisk.models.reasons",
    "finrisk.models.registry",
    "finrisk.models.report",
    "finrisk.models.serving",
    "finrisk.models.split",
    "finrisk.models.train",
    "finrisk.models.training_set",
    "finrisk.rules",
    "finrisk.rules.language",
    "finrisk.rules.lists",
    "finrisk.rules.policy",
    "finrisk.rules.versions",
    "finrisk.scoring",
    "finrisk.scoring.registered",
    "finrisk.simulate",
    "finrisk.store",
    "finrisk.store.relational",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"


def test_every_error_has_an_http_status() -> None:
    import finrisk.errors as errors

    for symbol in errors.__all__:
        obj = getattr(errors, symbol)
        if isinstance(obj, type) and issubclass(obj, errors.FinriskError):
            assert 400 <= obj.http_status <= 599


def test_package_exports_every_error() -> None:
    import finrisk
    import finrisk.errors as errors

    for symbol in errors.__all__:
        obj = getattr(errors, symbol)
        if isinstance(obj, type) and issubclass(obj, errors.FinriskError):
            assert symbol in finrisk.__all__, f"finrisk does not export {symbol}"
