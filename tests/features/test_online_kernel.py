"""The compiled kernel of the online engine (``_online_kernel``, C) and its pure-Python fallback.

When the extension is built, the engine must really run it (every event-time window group through one
compiled call); ``FINRISK_PURE_PYTHON=1`` must switch it off; a snapshot written by either must restore
in the other with the same values afterwards; bad arguments to the kernel raise, never crash. The
parity, property, late-event and add tests run both ways (``make test`` runs them with the extension,
CI or a developer with ``FINRISK_PURE_PYTHON=1`` without it); values are the same by construction.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finrisk.features._online_group import WindowGroup
from finrisk.features._online_native import KERNEL, kernel_name
from finrisk.features._online_state import KeyState
from finrisk.features.online import OnlineFeatureEngine

from .test_online_state import FS, random_stream, shuffle_locally

BUILT = importlib.util.find_spec("finrisk.features._online_kernel") is not None
PURE = os.environ.get("FINRISK_PURE_PYTHON", "").strip() not in ("", "0")
SRC = Path(__file__).resolve().parents[2] / "src"

# run in a child process: restore a snapshot (stdin, pickled with the stream), print the later values
_CHILD = """
import json, pickle, sys
from finrisk.features._online_native import kernel_name
from finrisk.features.online import OnlineFeatureEngine
from tests.features.test_online_state import FS
snapshot, later, replay = pickle.load(sys.stdin.buffer)
engine = OnlineFeatureEngine.restore(FS, snapshot)
values = [engine.process(e) for e in later]
engine = OnlineFeatureEngine.restore(FS, snapshot)  # the snapshot handed back: after ``replay``
for e in replay:
    engine.process(e)
sys.stdout.buffer.write(pickle.dumps((kernel_name(), values, engine.snapshot())))
"""


def _child(pure: bool, payload: Any) -> tuple[str, list[Any], bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)])}
    env.pop("FINRISK_PURE_PYTHON", None)
    if pure:
        env["FINRISK_PURE_PYTHON"] = "1"
    done = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps(payload), env=env,
                          capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: tuple[str, list[Any], bytes] = pickle.loads(done.stdout)
    return result


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_the_built_kernel_is_used() -> None:
    assert kernel_name() == "c"
    assert issubclass(KeyState, KERNEL.State)
    engine = OnlineFeatureEngine(FS)
    groups = [g for g in engine._groups if isinstance(g, WindowGroup) and g.time_field is None]
    assert groups and all(g.kernel is not None for g in groups)
    for event in random_stream(3, 50):
        engine.process(event)
    states = [ks for g in groups for ks in g.states.values()]
    assert states and all(isinstance(ks, KERNEL.State) for ks in states)


def test_pure_python_switch() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "FINRISK_PURE_PYTHON": "1"}
    code = ("import json; from finrisk.features._online_native import kernel_name; "
            "from finrisk.features._online_state import KeyState; "
            "print(json.dumps([kernel_name(), KeyState.__mro__[1].__name__]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True, timeout=60)
    assert json.loads(out.stdout) == ["python", "object"]


@pytest.mark.skipif(not BUILT, reason="the C kernel is not built here")
def test_snapshots_cross_between_the_kernel_and_pure_python() -> None:
    """Written with one, restored with the other (both ways): the same values on the later events."""
    stream = shuffle_locally(random_stream(21, 360), 21)
    first, later, last = stream[:150], stream[150:250], stream[250:]
    engine = OnlineFeatureEngine(FS)
    for event in first:
        engine.process(event)
    expected = [engine.process(e) for e in later]
    expected_last = [engine.process(e) for e in last]
    name, values, snapshot = _child(True, (engine_snapshot(first), later, later))  # kernel -> Python
    assert name == "python" and values == expected
    name, values, _ = _child(False, (snapshot, last, []))  # Python -> kernel
    assert name == "c" and values == expected_last


def engine_snapshot(events: list[dict[str, Any]]) -> bytes:
    """A snapshot after ``events``, written by this process (the kernel unless switched off)."""
    engine = OnlineFeatureEngine(FS)
    for event in events:
        engine.process(event)
    return engine.snapshot()


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_bad_arguments_raise_instead_of_crashing() -> None:
    window = KERNEL.Window(((3, True, True, False, True, False, True),), 0, 60_000_000, 0, True)
    with pytest.raises(TypeError, match="expected a KeyState"):
        window.slide(object(), 1)
    with pytest.raises(TypeError, match="a column is"):
        KERNEL.Window(((3, True),), 0, 1, 0, True)
    with pytest.raises(ValueError, match="unknown read code"):
        KERNEL.Group([(window, (), [(99, 0, 3)])], False, print)
    group = KERNEL.Group([(window, (), [(0, -1, 0)])], False, print)
    columns = ((3, True, True, False, True, False, True),)
    with pytest.raises(TypeError, match="an entry must be a tuple"):
        group.run(KeyState(columns, 0), 5, [5, 5, "e", 1.0])
    with pytest.raises(IndexError, match="entry shorter"):
        group.run(KeyState(columns, 0), 5, (5, 5, "e"))
    ks = KeyState(columns, 0)
    assert group.run(ks, 5, (5, 5, "e", 1.5)) == (0,)  # read before the insert (include_current false)
    assert group.run(ks, 6, None) == (1,)


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_a_stale_build_is_not_used(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from finrisk.features._online_native import load_kernel

    assert load_kernel() is KERNEL
    monkeypatch.setattr(KERNEL, "API", KERNEL.API + 1)
    assert load_kernel() is None
    assert "compiled kernel is stale" in caplog.text


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_entries_the_kernel_keeps_are_not_walked_by_the_collector() -> None:
    """In-order entries of plain values and their lists leave the collector's care (they cannot make a
    cycle); an entry holding a container stays tracked; the values stay right after a full collection."""
    window = KERNEL.Window(((3, False, False, False, False, True, False),), 0, 60_000_000, 0, True)
    group = KERNEL.Group([(window, (), [(6, 0, 3)])], False, print)
    ks = KeyState(((3, False, False, False, False, True, False),), 0)
    ks.dist = ({},)
    plain, boxed = tuple([5, 5, "e1", "m1"]), tuple([6, 6, "e2", tuple(["m", 2])])  # built at run time: tracked
    assert gc.is_tracked(ks.ents) and gc.is_tracked(plain)
    assert group.run(ks, 5, plain) == (0,)
    assert not gc.is_tracked(ks.ents) and not gc.is_tracked(plain)
    assert group.run(ks, 6, boxed) == (1,)
    assert gc.is_tracked(boxed)  # a tuple among its values: left to CPython
    gc.collect()
    assert group.run(ks, 7, None) == (2,) and ks.ents == [plain, boxed]
    engine = OnlineFeatureEngine(FS)
    stream = random_stream(5, 200)
    values = [engine.process(e) for e in stream[:100]]
    gc.collect()
    values += [engine.process(e) for e in stream[100:]]
    reference = OnlineFeatureEngine(FS)
    assert values == [reference.process(e) for e in stream]
    kept = [ks.ents for g in engine._groups if isinstance(g, WindowGroup) and g.time_field is None
            for ks in g.states.values()]
    assert kept and not any(gc.is_tracked(ents) for ents in kept)


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_states_and_their_containers_are_not_walked_by_the_collector() -> None:
    """A ``KeyState`` (a heap type's instance: tracked by CPython whatever its base), its shorter windows'
    tuple, its distinct-value dicts' tuple, its extremes' lists and deques and the entity records leave
    the collector's care once the kernel has touched them; the values stay right across full collections,
    and a state that is dropped is freed (no reference kept by the untracking)."""
    import weakref

    ks = KeyState(((3, False, False, False, False, True, False),), 0)
    assert not gc.is_tracked(ks)
    engine = OnlineFeatureEngine(FS)
    stream = random_stream(11, 300)
    values = []
    for n, e in enumerate(stream):
        values.append(engine.process(e))
        if n % 50 == 0:
            gc.collect()
    reference = OnlineFeatureEngine(FS)
    assert values == [reference.process(e) for e in stream]
    groups = [g for g in engine._groups if isinstance(g, WindowGroup) and g.time_field is None]
    states = [ks for g in groups for ks in g.states.values()]
    assert states and not any(gc.is_tracked(ks) for ks in states)
    assert not any(gc.is_tracked(o) for ks in states for o in ks.sibs)
    with_sibs = [ks.sibs for ks in states if ks.sibs]
    assert with_sibs and not any(gc.is_tracked(t) for t in with_sibs)
    dists = [ks.dist for ks in states if any(d is not None for d in ks.dist)]
    assert dists and not any(gc.is_tracked(t) for t in dists)
    extremes = [x for ks in states for x in (ks.maxs, ks.mins) if type(x) is list]
    assert extremes and not any(gc.is_tracked(x) or any(gc.is_tracked(d) for d in x if d is not None)
                                for x in extremes)
    records = [rec for table in engine._tables.values() for rec in table.records.values()]
    assert records and not any(gc.is_tracked(rec) for rec in records)
    # untracked, still freed by reference counting when the engine lets go of them
    refs = [weakref.ref(d) for x in extremes for d in x if d is not None]  # the deques
    assert refs and all(r() is not None for r in refs)
    del engine, groups, states, with_sibs, dists, extremes, records
    gc.collect()  # the engine itself is in cycles (its generated code's namespace)
    assert all(r() is None for r in refs)
    with pytest.raises(TypeError, match="a list or a tuple"):
        KERNEL.untracked({})
    # a restored state's containers too
    engine = OnlineFeatureEngine(FS)
    for e in stream[:150]:
        engine.process(e)
    restored = OnlineFeatureEngine.restore(FS, engine.snapshot())
    states = [ks for g in restored._groups if isinstance(g, WindowGroup) and g.time_field is None
              for ks in g.states.values()]
    assert states and not any(gc.is_tracked(ks) or gc.is_tracked(ks.sibs) or gc.is_tracked(ks.dist)
                              or gc.is_tracked(ks.maxs) for ks in states)
    assert [restored.process(e) for e in stream[150:]] == values[150:]


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_exact_aggregates_are_python_integers_held_as_machine_numbers() -> None:
    """``Exact`` (the kernel's counts and exact sums) does what a list of ints does, at every size: within
    256 bits as machine numbers, past them as Python ints; it pickles as a plain list."""
    rng = random.Random(5)
    sizes = [0, 1, 62, 63, 64, 127, 128, 200, 254, 255, 256, 300]
    exact, plain = KERNEL.Exact(4), [0, 0, 0, 0]
    for _ in range(3000):
        c = rng.randrange(4)
        x = rng.getrandbits(rng.choice(sizes)) * rng.choice([1, -1]) + rng.randrange(-2, 3)
        if rng.random() < 0.5:
            exact[c] += x
            plain[c] += x
        else:
            exact[c] -= x
            plain[c] -= x
        assert exact[c] == plain[c]
    assert exact == plain and list(exact) == plain and len(exact) == 4
    assert pickle.loads(pickle.dumps(exact)) == plain and type(pickle.loads(pickle.dumps(exact))) is list
    assert KERNEL.Exact([2**300, -(2**255), 7]) == [2**300, -(2**255), 7]
    with pytest.raises(TypeError, match="holds ints, not float"):
        exact[0] = 1.5
    with pytest.raises(IndexError, match="out of range"):
        exact[4] = 1
    with pytest.raises(TypeError, match="fixed length"):
        del exact[0]
    with pytest.raises(ValueError, match="length >= 0"):
        KERNEL.Exact(-1)


#: sums, means and deviations over amounts from tiny to far past 2**64 (scaled past 2**127 and 2**255)
WIDE = """\
features:
  s1h: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h}
  m1h: {key: customer_id, events: transaction, agg: mean, field: amount, window: 1h}
  sd1h: {key: customer_id, events: transaction, agg: std, field: amount, window: 1h}
  sd10m: {key: customer_id, events: transaction, agg: std, field: amount, window: 10m}
  n1h: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: count, window: 1h}
"""

_CHILD_VALUES = """
import pickle, sys
from finrisk._yamlfile import parse_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.spec import parse_features
body, events = pickle.load(sys.stdin.buffer)
engine = OnlineFeatureEngine(parse_features(parse_yaml(body, "f.yaml"), EventTypeRegistry.builtin()))
values = [engine.process(e) for e in events]
sys.stdout.buffer.write(pickle.dumps((values, engine.snapshot())))
"""


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_wide_amounts_give_the_pure_python_values_and_snapshot_bit_for_bit() -> None:
    from finrisk._yamlfile import parse_yaml
    from finrisk.events import EventTypeRegistry
    from finrisk.features.spec import parse_features

    rng = random.Random(9)
    amounts = [0.25, -3.5, 1e-12, 2.0**40 + 0.5, -(2.0**63), 2.0**64, 1e30, -7e36, 1e60, 123456.789]
    stream = shuffle_locally(random_stream(4, 400), 4)
    for e in stream:
        if e["event_type"] == "transaction":
            e["amount"] = rng.choice(amounts) if rng.random() < 0.5 else rng.randrange(-10**6, 10**6) / 8
    engine = OnlineFeatureEngine(parse_features(parse_yaml(WIDE, "f.yaml"), EventTypeRegistry.builtin()))
    values = [engine.process(e) for e in stream]
    env = {**os.environ, "PYTHONPATH": str(SRC), "FINRISK_PURE_PYTHON": "1"}
    done = subprocess.run([sys.executable, "-c", _CHILD_VALUES], input=pickle.dumps((WIDE, stream)), env=env,
                          capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert pickle.loads(done.stdout) == (values, engine.snapshot())  # the snapshot too, byte for byte
    assert any(v["sd1h"] is not None and v["sd1h"] > 1e50 for v in values)  # the boxed path was taken


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_times_of_every_size_are_read_exactly() -> None:
    """The kernel reads one- and two-digit ints directly (timestamps in µs): each sign and size, and past
    them the library's conversion, give the same machine integer."""
    columns = ((3, True, False, False, False, False, True),)
    window = KERNEL.Window(columns, 0, 60_000_000, 0, True)
    for t in (0, 1, -1, 2**30 - 1, 2**30, -(2**30), 2**59 + 12345, -(2**59) - 7, 2**60 + 1, -(2**62)):
        ks = KeyState(columns, 0)
        ks.ents.append((t, t, "e", 2.5))
        window.push(ks, ks.ents[-1], t)
        assert (ks.now, ks.due, ks.we, ks.nn[0]) == (t, t + 60_000_000, 1, 1)
    with pytest.raises(OverflowError):
        window.push(KeyState(columns, 0), (1, 1, "e", 1.0), 2**70)


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_event_times_in_microseconds_as_the_python_expression() -> None:
    """``event_us`` (the field arithmetic of two datetimes with one tzinfo) is ``values``'s Python
    expression on every date and zone kind, and falls back to ``to_us`` (strings, naive: the same error)."""
    from datetime import UTC, datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from finrisk.features._online_group import EPOCHS, MICRO, to_us

    def python(when: Any) -> int:
        epoch = EPOCHS.get(when.tzinfo) if when.__class__ is datetime else None
        return (when - epoch) // MICRO if epoch is not None else to_us(when)

    rng = random.Random(3)
    zones = [UTC, ZoneInfo("UTC"), timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)),
             ZoneInfo("Europe/Berlin"), timezone(timedelta(0))]
    low, high = datetime(1, 1, 2).timestamp(), datetime(9999, 12, 30).timestamp()
    for i in range(4000):
        naive = datetime.fromtimestamp(rng.uniform(low, high)).replace(microsecond=rng.randrange(10**6))
        if i < 40:  # leap days and year ends
            naive = datetime(rng.choice([1600, 1900, 2000, 2024, 2100]), rng.choice([2, 3, 12]), 1) - timedelta(
                microseconds=rng.randrange(2))
        when = naive.replace(tzinfo=zones[i % len(zones)])
        to_us(when)  # as values does for a zone it has not seen (fills EPOCHS)
        assert KERNEL.event_us(when) == python(when)
    assert KERNEL.event_us("2024-02-29T10:00:00+01:00") == to_us("2024-02-29T10:00:00+01:00")
    assert KERNEL.event_us(1_700_000_000_000_000) == 1_700_000_000_000_000
    with pytest.raises(TypeError):
        KERNEL.event_us(datetime(2024, 1, 1))  # naive: the Python path's error


@pytest.mark.skipif(not BUILT or PURE, reason="the C kernel is not built here, or switched off")
def test_the_compiled_sweep_drops_what_the_python_walk_drops() -> None:
    """``sweep_keys`` (a single-key group's expiry walk): the expired state leaves its slots and the
    record when it was the last, a fresh one stays, the walked keys leave ``pending``; bad input raises."""
    columns = ((3, False, False, False, False, False, True),)
    old, fresh, shared = KeyState(columns, 0), KeyState(columns, 0), KeyState(columns, 0)
    old.ents.append((100, 100, "a", 1))
    fresh.ents.append((900, 900, "b", 1))
    shared.ents.append((50, 50, "c", 1))
    keep = object()
    states = {"old": old, "fresh": fresh, "shared": shared, "gone": None}
    del states["gone"]
    records = {"old": [old, old, None], "fresh": [fresh, None, None], "shared": [shared, None, keep]}
    pending = ["untouched", "old", "fresh", "shared", "missing"]
    KERNEL.sweep_keys(pending, 4, states, records, 0, 2, 500)
    assert pending == ["untouched"]
    assert states == {"fresh": fresh}
    assert records == {"fresh": [fresh, None, None], "shared": [None, None, keep]}
    with pytest.raises(TypeError, match="7 arguments"):
        KERNEL.sweep_keys(pending, 4, states, records, 0, 2)
    with pytest.raises(ValueError, match="budget >= 1"):
        KERNEL.sweep_keys(["fresh"], 0, states, records, 0, 2, 500)
    with pytest.raises(TypeError, match="expected a KeyState"):
        KERNEL.sweep_keys(["x"], 1, {"x": 1}, records, 0, 1, 500)
    with pytest.raises(KeyError, match="no entity record"):
        KERNEL.sweep_keys(["fresh"], 1, states, {}, 0, 1, 10_000)
