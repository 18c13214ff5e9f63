"""Output layout, schemas and the JSONL contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from finrisk.events import LABEL_PREFIX, EventTypeRegistry, EventValidator
from finrisk.simulate import SimulationSummary

REGISTRY = EventTypeRegistry.builtin()


def test_manifest(world: SimulationSummary) -> None:
    m = json.loads((world.out_dir / "manifest.json").read_text())
    assert m["format"] == "finrisk-sim" and m["version"] == 1
    assert m["config"]["customers"] == 800
    assert m["counts"] == world.events_by_type
    assert "events/transaction/part-00000.parquet" in m["files"]
    assert all((world.out_dir / f).exists() for f in m["files"])


def test_parquet_schema_is_registry_schema_plus_labels(world: SimulationSummary) -> None:
    for event_type, n in world.events_by_type.items():
        schema = pq.read_schema(world.out_dir / "events" / event_type / "part-00000.parquet")
        labels = ["label_is_fraud", "label_pattern", "label_group"]
        if event_type == "loan_application":
            labels.append("label_default")
        expected = REGISTRY.get(event_type).arrow_schema
        assert schema.names == expected.names + labels
        for f in expected:
            assert schema.field(f.name).type == f.type, (event_type, f.name)
        assert schema.field("event_time").type == pa.timestamp("us", tz="UTC")
        assert pq.read_metadata(world.out_dir / "events" / event_type / "part-00000.parquet").num_rows == n


def test_every_event_type_is_present(world: SimulationSummary) -> None:
    assert set(world.events_by_type) >= {"registration", "login", "transaction", "profile_update",
                                         "loan_application", "insurance_policy", "claim", "chargeback",
                                         "case_disposition"}


def test_event_ids_unique_and_required_fields_set(world: SimulationSummary) -> None:
    seen: set[str] = set()
    for event_type in world.events_by_type:
        t = pq.read_table(world.out_dir / "events" / event_type)
        ids = t.column("event_id").to_pylist()
        assert len(set(ids)) == len(ids)
        seen.update(ids)
        for f in REGISTRY.get(event_type).fields:
            if f.required:
                assert t.column(f.name).null_count == 0, (event_type, f.name)
        times = t.column("event_time").cast(pa.int64()).to_numpy()
        assert (times[1:] >= times[:-1]).all()
    assert len(seen) == world.total_events


def test_jsonl_lines_validate_and_carry_no_labels(jsonl_world: SimulationSummary) -> None:
    validator = EventValidator(REGISTRY)
    total = 0
    for path in sorted((jsonl_world.out_dir / "events").glob("*/part-*.jsonl")):
        for line in path.read_bytes().splitlines():
            body = orjson.loads(line)
            assert not any(k.startswith(LABEL_PREFIX) for k in body)
            assert None not in body.values()
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["event_time"]), body["event_time"]
            validator.validate(body)
            total += 1
    assert total == jsonl_world.total_events


def test_jsonl_labels_match_events(jsonl_world: SimulationSummary, world: SimulationSummary) -> None:
    labels = pq.read_table(jsonl_world.out_dir / "labels" / "transaction").to_pandas()
    first = orjson.loads((jsonl_world.out_dir / "events/transaction/part-00000.jsonl").read_bytes().split(b"\n")[0])
    assert labels.event_id.iloc[0] == first["event_id"]
    assert len(labels) == jsonl_world.events_by_type["transaction"]
    assert jsonl_world.fraud_events_by_pattern == world.fraud_events_by_pattern


def test_reference_tables(world: SimulationSummary) -> None:
    ref = world.out_dir / "reference"
    customers = pq.read_table(ref / "customers.parquet").to_pandas()
    assert customers.customer_id.is_unique and len(customers) >= 800
    assert customers.phone.str.fullmatch(r"1\d{10}").all()
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for id_number in customers.id_number:
        assert len(id_number) == 18
        check = "10X98765432"[sum(int(c) * w for c, w in zip(id_number[:17], weights, strict=True)) % 11]
        assert id_number[17] == check
    assert (customers.phone_home_city == customers.city).mean() > 0.8
    merchants = pq.read_table(ref / "merchants.parquet").to_pandas()
    assert {"grocery", "online_game", "jewelry", "travel"} <= set(merchants.category)
    entities = pq.read_table(ref / "entity_labels.parquet")
    assert entities.schema.names == ["entity_type", "entity_id", "pattern", "group_id", "role"]


def test_rerun_replaces_previous_output(tmp_path: Path) -> None:
    from finrisk.simulate import WorldConfig, simulate_world

    simulate_world(WorldConfig(customers=60, days=2, seed=1), tmp_path)
    s = simulate_world(WorldConfig(customers=60, days=1, seed=1), tmp_path)
    t = pq.read_table(tmp_path / "events" / "login")
    assert t.num_rows == s.events_by_type["login"]
