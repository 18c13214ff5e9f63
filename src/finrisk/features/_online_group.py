"""State groups of the online engine: one per-key window store shared by the features of a group.

Features with the same key fields, events, filter, lag, time field and include_current read one
:class:`WindowGroup` (one :class:`Window` per distinct window length, sharing the entries), and so do
event-time features that differ only by filter where the engine merges them (each filter then a
column's: the value, or ``True`` / the event time for a count / time_since_last, null where the
event does not match; every aggregation skips nulls); its
:class:`~finrisk.features.online._online_state.KeyState` per entity keeps the entries that a query
within the allowed lateness could still need (placement after ``now - lag - window - lateness``)
and running aggregates over the window at ``now``. ``first_seen`` features (no window) share a
:class:`FirstSeenGroup`, which keeps one entry per key.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from finrisk.features._online_codegen import compile_slide
from finrisk.features._online_entities import EntityTable, Slot
from finrisk.features._online_native import KERNEL
from finrisk.features._online_state import (
    COUNT,
    COUNT_DISTINCT,
    COUNT_MATCHED,
    FIRST_COLUMN,
    LAST,
    MAX,
    MEAN,
    MIN,
    STD,
    SUM,
    TIME_SINCE_LAST,
    TIME_SINCE_MATCHED,
    Column,
    Entry,
    FeatureRead,
    KeyState,
    add,
    read,
    rebuild_extremes,
    remove,
    set_due,
    untrack_containers,
)
from finrisk.features.expr import Filter
from finrisk.features.spec import Aggregation, WindowFeature

__all__ = ["EPOCHS", "MICRO", "FirstSeenGroup", "Window", "WindowGroup", "to_us"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
#: The epoch written in each time zone seen whose offset from UTC never changes (``datetime.timezone``,
#: zoneinfo's names of UTC), by tzinfo object: ``(value - EPOCHS[value.tzinfo]) // MICRO`` is then exact,
#: and the subtraction of two datetimes with the same tzinfo is plain arithmetic, without the two
#: ``utcoffset`` calls another epoch costs (measured: 0.7 against 2.0 us per event with zoneinfo's UTC,
#: the tzinfo pyarrow gives; about 5% of the online engine's time). Filled by :func:`to_us`.
EPOCHS: dict[Any, datetime] = {UTC: _EPOCH}
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MAX_EPOCHS = 64  # tzinfo objects are few (zoneinfo caches them by name); never let the cache grow
_CODES = {Aggregation.COUNT: COUNT, Aggregation.SUM: SUM, Aggregation.MEAN: MEAN, Aggregation.STD: STD,
          Aggregation.MIN: MIN, Aggregation.MAX: MAX, Aggregation.COUNT_DISTINCT: COUNT_DISTINCT,
          Aggregation.LAST: LAST, Aggregation.TIME_SINCE_LAST: TIME_SINCE_LAST}
_EMPTY = {Aggregation.COUNT: 0, Aggregation.SUM: 0.0, Aggregation.COUNT_DISTINCT: 0}
Event = Mapping[str, Any]
#: What one value column of a group holds: ``(field, filter number)``; the field's value, or ``True``
#: (field None: a filtered count) or the event time (field :data:`TIME`: a filtered time_since_last),
#: null when the event does not match the group's filter of that number (None: no filter of its own).
Source = tuple[str | None, int | None]
TIME = "@event_time"


def to_us(value: datetime | str | int) -> int:
    """Microseconds since the epoch, exactly: an aware datetime, an ISO 8601 string (as timestamp
    fields other than ``event_time`` come back from the event log) or an int already in µs."""
    if isinstance(value, datetime):
        tz = value.tzinfo
        epoch = EPOCHS.get(tz)
        if epoch is not None:
            return (value - epoch) // MICRO
        if tz is not None and (type(tz) is timezone or getattr(tz, "key", None) in _UTC_NAMES) \
                and len(EPOCHS) < _MAX_EPOCHS:
            EPOCHS[tz] = datetime(1970, 1, 1, tzinfo=tz) + cast(timedelta, tz.utcoffset(_NAIVE_EPOCH))
        return (value - _EPOCH) // MICRO
    if isinstance(value, int):
        return value
    parsed = datetime.fromisoformat(value)
    return ((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)) - _EPOCH) // MICRO


#: with the compiled kernel, an event's time in µs as ``OnlineFeatureEngine.values`` computes it inline
#: (``(when - EPOCHS[when.tzinfo]) // MICRO``, else ``to_us``) in one call, without the timedelta; else None
EVENT_US: Callable[[Any], int] | None = None
if KERNEL is not None:
    KERNEL.bind_time(EPOCHS, to_us)
    EVENT_US = KERNEL.event_us


class _Group:
    """What every group shares: which events it keys, which it takes in, and its per-key state."""

    def __init__(self, features: Sequence[WindowFeature], index: Mapping[str, int], lateness_us: int,
                 tables: dict[str, EntityTable] | None = None) -> None:
        first = features[0]
        self.features = tuple(features)
        self.key = first.key
        #: the group's slot in the record of its key's first field (shared with the engine's other groups)
        tables = {} if tables is None else tables
        table = tables.get(first.key[0])
        if table is None:
            table = tables[first.key[0]] = EntityTable(first.key[0])
        self.slot: Slot = table.slot(len(first.key) > 1, len({f.window_us for f in features}) - 1)
        self.single_key = first.key[0] if len(first.key) == 1 else None
        self.events = frozenset(first.events)
        self.filter = first.filter
        self.time_field = None if first.time_field == "event_time" else first.time_field
        self.include_current = first.include_current
        self.lateness_us = lateness_us
        self.outputs = tuple(index[f.name] for f in features)

    @property
    def states(self) -> dict[Any, Any]:
        """Every key's state, as a dict (a copy: snapshots, statistics and tests read it)."""
        return self.slot.states()

    def key_of(self, event: Event) -> Any:
        """The entity key of ``event``, or None when a key field is null."""
        if self.single_key is not None:
            return event.get(self.single_key)
        key = tuple(event.get(k) for k in self.key)
        return None if None in key else key

    def placement(self, event: Event, t: int) -> int | None:
        if self.time_field is None:
            return t
        placed = event.get(self.time_field)
        return None if placed is None else to_us(placed)

    def qualifies(self, event: Event) -> bool:
        """Own type (checked by the caller's plan) and filter: may ``event`` contribute?"""
        return self.filter is None or self.filter.matches(event)


def _code(f: WindowFeature, src: Source | None) -> int:
    """The read of ``f``: a count or time_since_last with a column (a filter of its own) reads that column."""
    if src is not None and f.agg is Aggregation.COUNT:
        return COUNT_MATCHED
    if src is not None and f.agg is Aggregation.TIME_SINCE_LAST:
        return TIME_SINCE_MATCHED
    return _CODES[f.agg]


class Window:
    """One window of a :class:`WindowGroup`: its features' value columns, reads and generated slide.

    ``fields`` are the field names of its columns (a subset of the group's, at their entry positions);
    ``trims``: the group's longest window, whose slide forgets old entries for all of them.
    """

    def __init__(self, features: Sequence[WindowFeature], sources: Sequence[Source],
                 source_of: Mapping[str, Source | None], index: Mapping[str, int], lateness_us: int,
                 trims: bool) -> None:
        first = features[0]
        assert first.window_us is not None
        self.features = tuple(features)
        self.window_us = first.window_us
        self.lag_us = first.lag_us
        self.lateness_us = lateness_us
        self.trims = trims
        needs: dict[Source, set[Aggregation]] = {}
        for f in features:
            src = source_of[f.name]
            if src is not None:
                needs.setdefault(src, set()).add(f.agg)
        own = [src for src in sources if src in needs]
        self.fields = tuple(own)
        self.columns: tuple[Column, ...] = tuple(
            (FIRST_COLUMN + sources.index(src),
             bool(needs[src] & {Aggregation.SUM, Aggregation.MEAN, Aggregation.STD}),
             Aggregation.STD in needs[src], Aggregation.MIN in needs[src], Aggregation.MAX in needs[src],
             Aggregation.COUNT_DISTINCT in needs[src],
             bool(needs[src] & {Aggregation.MEAN, Aggregation.STD, Aggregation.LAST, Aggregation.COUNT,
                                Aggregation.TIME_SINCE_LAST}))
            for src in own)
        self.reads: tuple[FeatureRead, ...] = tuple(
            (index[f.name], _code(f, source_of[f.name]), own.index(src) if (src := source_of[f.name]) else -1)
            for f in features)
        self.empty = tuple((index[f.name], _EMPTY.get(f.agg)) for f in features)
        #: the compiled slide and push of this window (None: the generated Python code runs)
        self.kernel = None if KERNEL is None else KERNEL.Window(self.columns, self.lag_us, self.window_us,
                                                                  lateness_us, trims)
        # advance() for t >= ks.due (the hot path's): compiled, or generated Python
        self.slide = self.kernel.slide if self.kernel is not None else compile_slide(self)

    def advance(self, ks: KeyState, t: int) -> None:
        """Move the running window of ``ks`` to end at ``t`` (``t`` not before ``ks.now``)."""
        if t <= ks.now:
            return
        ks.now = t
        ents = ks.ents
        n = len(ents)
        hi = t - self.lag_us
        we = ks.we
        if we < n and ents[we][0] <= hi:
            columns = self.columns
            while we < n and ents[we][0] <= hi:
                add(columns, ks, ents[we])
                we += 1
            ks.we = we
        lo = hi - self.window_us
        ws = ks.ws
        if ws < we and ents[ws][0] <= lo:
            columns = self.columns
            while ws < we and ents[ws][0] <= lo:
                remove(columns, ks, ents[ws])
                ws += 1
            ks.ws = ws
            horizon = lo - self.lateness_us
            # forget what no allowed late event can see, once that is half the list (amortised O(1))
            if self.trims and ws >= 32 and 2 * ws >= n and ents[ws // 2][0] <= horizon:
                k = bisect_left(ents, (horizon + 1,), 0, ws)
                del ents[:k]
                ks.ws = ws - k
                ks.we = we - k
                for sib in ks.sibs:  # already at t (slid first): their windows start after the cut
                    sib.ws -= k
                    sib.we -= k
        set_due(ks, self.lag_us, self.window_us)


class WindowGroup(_Group):
    """Features over the sliding windows of one entity's events, sharing one entry list per key.

    Features with the same key, events, filter, lag, time field and include_current share the group
    whatever their window: one :class:`Window` per distinct window, shortest first; the per-key state
    stored is the longest window's, its ``sibs`` the others' (see :mod:`._online_state`).
    """

    def __init__(self, features: Sequence[WindowFeature], index: Mapping[str, int], lateness_us: int,
                 tables: dict[str, EntityTable] | None = None) -> None:
        super().__init__(features, index, lateness_us, tables)
        first = features[0]
        texts = list(dict.fromkeys(f.filter.text if f.filter else "" for f in features))
        #: the filters of the group's columns when its features have different ones (else the group's
        #: ``filter`` applies to every entry, as before): an event is kept when it matches any of them
        #: (always when some feature has none), each column null where its filter does not match
        self.filters: tuple[Filter, ...] = ()
        self.always = True
        if len(texts) > 1:
            by_text = {f.filter.text: f.filter for f in features if f.filter is not None}
            self.filters = tuple(by_text[text] for text in texts if text)
            self.always = "" in texts
            self.filter = None
        numbers = {flt.text: n for n, flt in enumerate(self.filters)}
        source_of: dict[str, Source | None] = {}
        for f in features:
            n = numbers.get(f.filter.text) if f.filter is not None else None
            if f.field is not None:
                source_of[f.name] = (f.field, n)
            elif n is not None and f.agg in (Aggregation.COUNT, Aggregation.TIME_SINCE_LAST):
                source_of[f.name] = (None if f.agg is Aggregation.COUNT else TIME, n)
            else:
                source_of[f.name] = None
        sources = list(dict.fromkeys(src for src in source_of.values() if src is not None))
        self.fields: tuple[Source, ...] = tuple(sources)
        by_window: dict[int, list[WindowFeature]] = {}
        for f in features:
            assert f.window_us is not None and f.lag_us == first.lag_us
            by_window.setdefault(f.window_us, []).append(f)
        spans = sorted(by_window)
        self.windows = tuple(Window(by_window[w], sources, source_of, index, lateness_us, w == spans[-1])
                             for w in spans)
        self.window_us = spans[-1]
        self.lag_us = first.lag_us
        self._pending: list[Any] = []
        self._next_sweep = -(1 << 62)
        #: the compiled in-order step of an event-time group (slides, reads, insert in one call; see
        #: _online_native), or None: the generated Python code runs
        self.kernel = None
        if KERNEL is not None and len(self.windows) <= KERNEL.MAX_WINDOWS:
            self.kernel = KERNEL.Group(
                [(win.kernel, win.columns, [(code, c, win.columns[c][0] if c >= 0 else 0) for _, code, c in win.reads])
                 for win in self.windows], self.include_current, rebuild_extremes)

    def new_state(self, now: int) -> KeyState:
        """A fresh per-key state: the longest window's, with the shorter ones' sharing its entries."""
        *short, longest = self.windows
        ks = KeyState(longest.columns, now)
        sibs = []
        for win in short:
            sib = KeyState(win.columns, now)
            sib.ents = ks.ents
            sibs.append(sib)
        ks.sibs = tuple(sibs)
        untrack_containers(ks)
        return ks

    def entry(self, event: Event, t: int, eid: str) -> Entry | None:
        p = t if self.time_field is None else self.placement(event, t)
        if p is None:
            return None
        if not self.fields:
            return (p, t, eid)
        if not self.filters:
            return (p, t, eid, *[event.get(cast(str, name)) for name, _ in self.fields])  # one filter: fields
        matched = [flt.matches(event) for flt in self.filters]
        if not (self.always or any(matched)):
            return None
        return (p, t, eid, *[None if n is not None and not matched[n] else
                             True if name is None else t if name == TIME else event.get(name)
                             for name, n in self.fields])

    def advance(self, ks: KeyState, t: int) -> None:
        """Move every window of ``ks`` to end at ``t``: the shorter ones first, then the trimming one."""
        for win, sub in zip(self.windows, (*ks.sibs, ks), strict=True):
            win.advance(sub, t)

    def insert(self, ks: KeyState, ent: Entry) -> None:
        """Insert ``ent`` in order; it joins the running aggregates of each window it lies in at ``now``.

        A window's ``now`` may be behind the newest event (the hot path moves it only when the window
        moves or an entry joins its end; every entry in the window lies at or before ``now``): an entry
        that the newest event's window already dropped, or would already hold, is placed as at ``now``,
        and ``due``, set here, makes the next in-order event slide the window first.
        """
        p = ent[0]
        if p <= ks.now - self.lag_us - self.window_us - self.lateness_us:
            return
        ents = ks.ents
        if not ents or ents[-1] < ent:
            pos = len(ents)
            ents.append(ent)
        else:
            pos = bisect_left(ents, ent)
            ents.insert(pos, ent)
        for win, sub in zip(self.windows, (*ks.sibs, ks), strict=True):
            hi = sub.now - self.lag_us
            if p <= hi - win.window_us:
                sub.ws += 1
                sub.we += 1
            elif p <= hi:
                if pos != sub.we:
                    sub.dirty = True
                add(win.columns, sub, ent)
                sub.we += 1
            set_due(sub, self.lag_us, win.window_us)

    def read(self, ks: KeyState, t: int, out: list[Any]) -> None:
        for win, sub in zip(self.windows, (*ks.sibs, ks), strict=True):
            read(win.columns, win.reads, sub, t, out)

    def process(self, event: Event, t: int, eid: str, update: bool, out: list[Any]) -> None:
        """In-order event (after everything in the state): values from the running windows, then add it."""
        key = event.get(self.single_key) if self.single_key is not None else self.key_of(event)
        if key is None:
            return
        ent = None
        if update and (self.filter is None or self.filter.matches(event)):
            ent = self.entry(event, t, eid)
        ks = self.slot.get(key)
        if ks is None:
            if ent is None:
                for win in self.windows:
                    for idx, value in win.empty:
                        out[idx] = value
                return
            ks = self.new_state(t)
            self.slot.put(key, ks)
        else:
            self.advance(ks, t)
        if ent is None:
            self.read(ks, t, out)
        elif self.include_current:
            self.insert(ks, ent)
            self.read(ks, t, out)
        else:
            self.read(ks, t, out)
            self.insert(ks, ent)

    def scan(self, event: Event, t: int, eid: str, own: bool, out: list[Any] | None) -> Entry | None:
        """Exact values for any event by scanning the key's windows (late events, pure gets).

        Returns the event's entry when it qualifies (``own`` says it is of the group's types).
        """
        key = self.key_of(event)
        if key is None:
            return None
        ent = self.entry(event, t, eid) if own and self.qualifies(event) else None
        if out is None:
            return ent
        ks = self.slot.get(key)
        for win in self.windows:
            tmp = KeyState(win.columns, t)
            if ks is not None:
                ents = ks.ents
                hi = t - self.lag_us
                lo = hi - win.window_us
                a = bisect_left(ents, (lo + 1,))
                b = bisect_left(ents, (hi + 1,))
                before = (t, eid)
                tmp.ents = [c for c in ents[a:b] if (c[1], c[2]) < before]
            if self.include_current and ent is not None:
                tmp.ents.append(ent)
            for c in tmp.ents:
                add(win.columns, tmp, c)
            tmp.we = len(tmp.ents)
            read(win.columns, win.reads, tmp, t, out)
        return ent

    def store(self, event: Event, ent: Entry, t: int) -> None:
        """Add an entry out of order (a late event): sorted insertion, without moving the windows."""
        key = self.key_of(event)
        ks = self.slot.get(key)
        if ks is None:
            ks = self.new_state(t)
            self.slot.put(key, ks)
        self.insert(ks, ent)

    def sweep(self, newest_us: int, budget: int) -> None:
        """Drop up to ``budget`` keys whose newest entry is out of reach of every allowed query.

        A sweep cycle starts every half horizon (lag + longest window + lateness) of event time and
        walks the keys a few per event, so no single event pays for the whole walk.
        """
        if not self._pending:
            if newest_us < self._next_sweep:
                return
            self._next_sweep = newest_us + (self.lag_us + self.window_us + self.lateness_us) // 2
            slot = self.slot
            self._pending = list(slot.keys() if slot.composite else slot.by_key)
        horizon = newest_us - self.lag_us - self.window_us - self.lateness_us
        pending, slot = self._pending, self.slot
        if slot.composite:
            for key in pending[-budget:]:
                ks = slot.get(key)
                if ks is not None and (not ks.ents or ks.ents[-1][0] <= horizon):
                    slot.drop(key)
        elif KERNEL is not None:  # the same walk, compiled (it runs on every event)
            KERNEL.sweep_keys(pending, budget, slot.by_key, slot.table.records, slot.index, 1 + slot.siblings,
                              horizon)
            return
        else:  # Slot.drop inline: this runs for a few keys on every event
            records, states, i = slot.table.records, slot.by_key, slot.index
            for key in pending[-budget:]:
                ks = states.get(key)
                if ks is not None and (not ks.ents or ks.ents[-1][0] <= horizon):
                    del states[key]
                    rec = records[key]
                    rec[i:i + 1 + slot.siblings] = [None] * (1 + slot.siblings)
                    if rec.count(None) == len(rec):
                        del records[key]
        del pending[-budget:]


class FirstSeenGroup(_Group):
    """``first_seen`` features of one key: one entry ``(placement, event_time, event_id)`` per key."""

    def __init__(self, features: Sequence[WindowFeature], index: Mapping[str, int], lateness_us: int,
                 tables: dict[str, EntityTable] | None = None) -> None:
        super().__init__(features, index, lateness_us, tables)

    def _evaluate(self, event: Event, t: int, eid: str, own: bool, in_order: bool,
                  out: list[Any] | None) -> tuple[Any, tuple[int, int, str] | None]:
        key = self.key_of(event)
        if key is None:
            return None, None
        ent = None
        if own and self.qualifies(event):
            p = self.placement(event, t)
            ent = None if p is None else (p, t, eid)
        if out is not None:
            first = self.slot.get(key)
            if first is not None and not in_order and (first[1], first[2]) >= (t, eid):
                first = None  # the first one known came after this (late) event
            if self.include_current and ent is not None and (first is None or ent < first):
                first = ent
            value = None if first is None else (t - first[0]) / 1_000_000
            for idx in self.outputs:
                out[idx] = value
        return key, ent

    def process(self, event: Event, t: int, eid: str, update: bool, out: list[Any]) -> None:
        key, ent = self._evaluate(event, t, eid, update, True, out)
        if ent is not None:
            self.keep(key, ent)

    def scan(self, event: Event, t: int, eid: str, own: bool, out: list[Any] | None) -> tuple[int, int, str] | None:
        return self._evaluate(event, t, eid, own, False, out)[1]

    def keep(self, key: Any, ent: tuple[int, int, str]) -> None:
        first = self.slot.get(key)
        if first is None or ent < first:
            self.slot.put(key, ent)

    def store(self, event: Event, ent: tuple[int, int, str], t: int) -> None:
        self.keep(self.key_of(event), ent)

    def sweep(self, newest_us: int, budget: int) -> None:
        """first_seen looks back forever: nothing to drop."""
