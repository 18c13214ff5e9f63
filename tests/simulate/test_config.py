from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finrisk.errors import FinriskError
from finrisk.simulate import PATTERN_NAMES, SimulationConfigError, WorldConfig, simulate_world


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"customers": 0}, r"'customers' parameter of WorldConfig must be an integer > 0 .* Got 0 instead"),
        ({"customers": -5}, r"'customers' .* Got -5 instead"),
        ({"customers": 2.5}, r"'customers' .* must be an integer .* Got 2.5 instead"),
        ({"days": 0}, r"'days' parameter of WorldConfig must be an integer > 0 .* Got 0"),
        ({"fraud_share": 0.9}, r"'fraud_share' .* <= 0.5\. Got 0.9 instead"),
        ({"seed": -1}, r"'seed' .* >= 0\. Got -1 instead"),
        ({"pattern_mix": {"bank_robbery": 1.0}}, r"'pattern_mix' .* Got 'bank_robbery' instead"),
        ({"pattern_mix": {"fund_loop": -1}}, r"weight of 'fund_loop' .* >= 0\. Got -1 instead"),
        ({"start": "2026-01-01"}, r"'start' parameter of WorldConfig must be a date"),
    ],
)
def test_config_errors_name_field_and_value(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SimulationConfigError, match=match):
        WorldConfig(**kwargs)  # type: ignore[arg-type]


def test_config_error_is_a_finrisk_error() -> None:
    assert issubclass(SimulationConfigError, FinriskError)
    assert SimulationConfigError.http_status == 400


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SimulationConfigError, match=r"'fmt' .* parquet, jsonl\. Got 'csv' instead"):
        simulate_world(WorldConfig(customers=10, days=1), tmp_path, fmt="csv")


def test_to_dict_is_json_ready() -> None:
    d = WorldConfig(customers=10, days=2, start=date(2026, 3, 1), pattern_mix={"fund_loop": 3}).to_dict()
    assert d["start"] == "2026-03-01"
    assert d["pattern_mix"]["fund_loop"] == 3.0
    assert set(d["pattern_mix"]) == set(PATTERN_NAMES)


def test_pattern_mix_switches_patterns_off(tmp_path: Path) -> None:
    mix = {p: 0.0 for p in PATTERN_NAMES} | {"fund_loop": 1.0}
    s = simulate_world(WorldConfig(customers=200, days=10, seed=1, pattern_mix=mix), tmp_path)
    assert set(s.fraud_events_by_pattern) == {"fund_loop"}


def test_zero_fraud_share_gives_no_fraud(tmp_path: Path) -> None:
    s = simulate_world(WorldConfig(customers=200, days=3, seed=1, fraud_share=0.0), tmp_path)
    assert s.fraud_events_by_pattern == {}
    assert s.total_events > 1000
