"""The event-id filter never forgets an id (no false negatives), and the log answers from it."""

from __future__ import annotations

import asyncio
import time

from finrisk.config import Workspace
from finrisk.decisions.writer import GroupCommitWriter, committed
from finrisk.store import EmbeddedEventLog, open_log
from finrisk.store.id_filter import IdFilter
from finrisk.store.log import AppendStatus

from .conftest import MakeTxn


def test_every_added_id_is_found_and_few_others_are() -> None:
    one_by_one, at_once = IdFilter(10_000), IdFilter(10_000)
    ids = [f"evt-{i:06d}" for i in range(10_000)]
    for eid in ids[:5000]:
        one_by_one.add(eid)
    at_once.add_many(iter(ids), len(ids))
    assert all(one_by_one.may_contain(eid) for eid in ids[:5000])
    assert all(at_once.may_contain(eid) for eid in ids)
    others = [f"new-{i}" for i in range(20_000)]
    assert sum(at_once.may_contain(eid) for eid in others) < 20_000 * 0.01
    assert sum(one_by_one.may_contain(eid) for eid in ids[5000:]) < 5000 * 0.01
    assert at_once.count == 10_000


def test_one_by_one_and_at_once_set_the_same_bits() -> None:
    """``add`` (probes written out) and ``add_many`` (numpy, probes in a loop) agree bit for bit, at
    the smallest size and at one where the probes' 64-bit steps wrap past the mask."""
    for capacity in (1, 1_000_000):
        one_by_one, at_once = IdFilter(capacity), IdFilter(capacity)
        ids = [f"id-{i}" for i in range(3000)] + ["", "ü", "x" * 500]
        for eid in ids:
            one_by_one.add(eid)
        at_once.add_many(iter(ids), len(ids))
        assert one_by_one._bits == at_once._bits and one_by_one.count == at_once.count


def test_a_tracked_log_skips_the_read_for_new_ids_only(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn("before")], decisions=[("d-before", b'{"a": 1}')])
    log.track_ids()
    assert log.event_state("never") == (None, None)
    known, stored = log.event_state("before")
    assert known is not None and stored == b'{"a": 1}'
    log.append([make_txn("after")])
    assert log.body_hash("after") is not None  # ids appended after tracking started are found too
    assert log.body_hash("never") is None


def test_an_awaited_commit_resolves_and_a_timeout_does_not_cancel_it(log: EmbeddedEventLog,
                                                                     make_txn: MakeTxn) -> None:
    writer = GroupCommitWriter(log)
    try:
        async def main() -> None:
            result = await committed(writer.submit(make_txn("a1")), 5.0)
            assert result.event_id == "a1"
            future = writer.submit(make_txn("a2"))
            try:
                await committed(future, 0.0)  # gives up at once...
            except Exception as exc:  # noqa: BLE001
                assert "longer than" in str(exc)
            deadline = time.monotonic() + 5
            while not future.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert future.result().event_id == "a2"  # ...but the commit itself went through

        asyncio.run(main())
    finally:
        writer.close()
    assert log.body_hash("a2") is not None


def test_a_tracked_log_still_tells_duplicates_and_conflicts(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn("old", amount=1.0)])
    log.track_ids()
    results = log.append([make_txn("old", amount=1.0), make_txn("old", amount=2.0), make_txn("new"),
                          make_txn("new")])
    assert [r.status.value for r in results] == ["duplicate", "conflict", "stored", "duplicate"]


def test_a_given_canonical_body_is_stored_as_if_computed(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    from finrisk.store.embedded_log import body_hash_of, fast_canonical_json

    event = make_txn("c1")
    body = fast_canonical_json(event)
    log.append([event], canonical=[(body, body_hash_of(body))])
    log.append([make_txn("c2")])
    assert log.body_hash("c1") == body_hash_of(body)
    assert [r.status.value for r in log.append([make_txn("c1")])] == ["duplicate"]



def test_events_another_writer_appends_are_learnt_before_the_next_append(
        workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    """`finrisk load` beside a running service: the service's filter has never seen those ids, yet
    re-sending one of them is a duplicate (or a conflict), never a UNIQUE-index failure."""
    log.track_ids()
    event = make_txn("loaded")
    with open_log(workspace) as loader:
        assert [r.status for r in loader.append([event])] == [AppendStatus.STORED]
    changed = make_txn("loaded", amount=99.0)
    assert [r.status for r in log.append([event, changed])] == [AppendStatus.DUPLICATE, AppendStatus.CONFLICT]
    assert [r.status for r in log.append([make_txn("new")])] == [AppendStatus.STORED]
    assert log.body_hash("loaded") is not None
