"""The demo rule set: compiles against the demo features and built-in events, and finds fraud.

On a small simulated world (features computed online, event by event, as in production) the demo
rules must hit fraud events at a clearly higher rate than normal ones.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.spec import FeatureSet, parse_features
from finrisk.rules import Action, CompiledRuleSet, Policy, RuleNames, RuleSet, parse_ruleset
from finrisk.simulate import WorldConfig, simulate_world

REGISTRY = EventTypeRegistry.builtin()


def demo_features() -> FeatureSet:
    text = resources.files("finrisk.features").joinpath("demo_features.yaml").read_text("utf-8")
    return parse_features(parse_yaml(text, "demo_features.yaml"), REGISTRY)


def demo_rules() -> RuleSet:
    text = resources.files("finrisk.rules").joinpath("demo_rules.yaml").read_text("utf-8")
    return parse_ruleset(text, file="demo_rules.yaml")


def compiled_demo() -> CompiledRuleSet:
    names = RuleNames.from_registry(REGISTRY, features=[f.name for f in demo_features()])
    return demo_rules().compile(names)


def test_demo_rules_compile_against_demo_features_and_builtin_events() -> None:
    compiled = compiled_demo()
    rs = compiled.ruleset
    assert 15 <= len(rs.rules) <= 30 and rs.policy is Policy.SCORE
    assert all(len(r.reason) > 20 and len(r.description) > 20 for r in rs.rules)
    assert {r.action for r in rs.rules} >= {Action.CHALLENGE, Action.REVIEW, Action.REJECT}
    assert {r.method for r in rs.rules if r.method} >= {"face", "sms_otp", "security_question"}
    used = compiled.references["features"]
    assert len(used) >= 25, sorted(used)
    covered = {r.name for r in rs.rules}
    for pattern in ("login_many_devices", "large_transfer_new_city", "impossible_travel", "mule_fan_in_1h",
                    "device_shared_by_accounts", "rapid_loan_applications_device", "phone_city_differs_from_ip_city",
                    "amount_far_above_normal", "new_device_large_amount", "failed_logins"):
        assert pattern in covered


def _world_events(out: Path) -> list[dict[str, Any]]:
    events = []
    for folder in sorted((out / "events").iterdir()):
        for row in pq.read_table(folder).to_pylist():
            events.append({k: v for k, v in row.items() if v is not None})
    return sorted(events, key=lambda e: (e["event_time"], str(e["event_id"]).encode()))


@pytest.mark.slow
def test_demo_rules_hit_fraud_far_more_often_than_normal_events(tmp_path: Path) -> None:
    simulate_world(WorldConfig(customers=300, days=14, seed=5), out_dir=tmp_path, fmt="parquet")
    engine = OnlineFeatureEngine(demo_features())
    compiled = compiled_demo()
    counts = {True: [0, 0], False: [0, 0]}  # fraud? -> [events, events with a hit]
    patterns_hit: set[str] = set()
    escalated = {True: 0, False: 0}
    for event in _world_events(tmp_path):
        labels = {k: event.pop(k) for k in list(event) if k.startswith("label_")}
        features = engine.process(dict(event))
        result = compiled.evaluate(event, features)
        fraud = bool(labels.get("label_is_fraud"))
        counts[fraud][0] += 1
        if result.hits:
            counts[fraud][1] += 1
            if fraud:
                patterns_hit.add(str(labels.get("label_pattern")))
        escalated[fraud] += result.action is not Action.PASS
    fraud_rate = counts[True][1] / counts[True][0]
    normal_rate = counts[False][1] / counts[False][0]
    assert counts[True][0] >= 50 and counts[False][0] >= 5000
    assert fraud_rate >= 0.3, (fraud_rate, counts)
    assert fraud_rate >= 10 * normal_rate, (fraud_rate, normal_rate)
    assert escalated[True] / counts[True][0] >= 10 * escalated[False] / counts[False][0]
    assert len(patterns_hit) >= 5, patterns_hit
