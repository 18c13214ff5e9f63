"""Replay history through a candidate rule set: what would it have caught, at what cost?

The events of the warehouse are merged in the feature semantics' order (``event_time``, then
``event_id``) and driven through :class:`~finrisk.decisions.engine.DecisionEngine`, the object the
live service uses, with fresh feature state. Events before ``start`` only warm the state up (by
default all of history, so "first seen" features are exact); events in ``[start, end)`` are decided
by the candidate and, side by side, by the published rule set (as a shadow), then scored against the
ground-truth labels. Labels are joined for scoring only: rules never see them.

Counting (also in docs/rules.md):

* an event is *in scope* when its type is one the rule set looks at (any rule whose ``events`` list
  names it, or every type if some rule has no such list);
* *flagged* means any action other than ``pass``; *precision* = flagged fraud / flagged labelled,
  *recall* = flagged fraud / labelled fraud, *false-positive rate* = flagged normal / labelled normal,
  all over labelled in-scope events; per rule the same with "hit" for "flagged";
* *fraud amount caught* sums ``amount`` over flagged fraud events (events without an amount add 0);
* the daily load counts challenges, reviews and rejections per UTC day of ``event_time``.
"""

from __future__ import annotations

import gc
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from finrisk.config import Workspace
from finrisk.decisions.deployed_models import DeployedModels
from finrisk.decisions.engine import ActiveRuleSet, DecisionEngine, workspace_rule_names
from finrisk.decisions.profiles import ProfileStore
from finrisk.events.validate import format_timestamp
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.spec import FeatureSet
from finrisk.rules import CompiledRuleSet, ListLookup, RuleSet, RuleSetResult
from finrisk.scoring.registered import migrate_legacy_scorecards
from finrisk.store.warehouse import Warehouse

__all__ = ["ReplayReport", "RuleStats", "features_read_by", "replay", "warehouse_events"]

Progress = Callable[[int], None]
_LABELS = ("label_is_fraud", "label_pattern")


@dataclass
class RuleStats:
    """One rule's record over the replayed period."""

    rule: str
    hits: int = 0
    fraud_hits: int = 0
    labelled_hits: int = 0
    fraud_amount: float = 0.0
    in_scope: int = 0
    fraud_in_scope: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.in_scope if self.in_scope else 0.0

    @property
    def precision(self) -> float | None:
        return self.fraud_hits / self.labelled_hits if self.labelled_hits else None

    @property
    def recall(self) -> float | None:
        return self.fraud_hits / self.fraud_in_scope if self.fraud_in_scope else None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "hits": self.hits, "hit_rate": self.hit_rate, "precision": self.precision,
                "recall": self.recall, "fraud_hits": self.fraud_hits, "fraud_amount": round(self.fraud_amount, 2)}


@dataclass
class Outcome:
    """Overall confusion counts of one rule set over the labelled in-scope events."""

    actions: Counter[str] = field(default_factory=Counter)
    flagged: int = 0
    flagged_fraud: int = 0
    flagged_normal: int = 0
    fraud_amount: float = 0.0

    def to_dict(self, fraud: int, normal: int) -> dict[str, Any]:
        return {
            "actions": dict(sorted(self.actions.items())),
            "flagged": self.flagged,
            "precision": self.flagged_fraud / (self.flagged_fraud + self.flagged_normal)
            if self.flagged_fraud + self.flagged_normal else None,
            "recall": self.flagged_fraud / fraud if fraud else None,
            "false_positive_rate": self.flagged_normal / normal if normal else None,
            "fraud_amount_caught": round(self.fraud_amount, 2),
        }


@dataclass
class ReplayReport:
    """Everything a replay measured; ``to_dict`` is the JSON form, the HTML report renders it."""

    ruleset: str
    baseline: str | None
    start: datetime
    end: datetime
    warmup_events: int = 0
    events: int = 0
    in_scope: int = 0
    fraud: int = 0
    normal: int = 0
    fraud_amount: float = 0.0
    candidate: Outcome = field(default_factory=Outcome)
    published: Outcome = field(default_factory=Outcome)
    rules: dict[str, RuleStats] = field(default_factory=dict)
    daily: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    changed: int = 0
    changed_examples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        total = self.events + self.warmup_events
        return total / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleset": self.ruleset,
            "baseline": self.baseline,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "events": self.events,
            "warmup_events": self.warmup_events,
            "in_scope": self.in_scope,
            "fraud": self.fraud,
            "normal": self.normal,
            "fraud_amount": round(self.fraud_amount, 2),
            "candidate": self.candidate.to_dict(self.fraud, self.normal),
            "published": self.published.to_dict(self.fraud, self.normal) if self.baseline else None,
            "rules": [r.to_dict() for r in self.rules.values()],
            "daily_load": {day: dict(c) for day, c in sorted(self.daily.items())},
            "changed_decisions": self.changed,
            "changed_examples": self.changed_examples,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events_per_s, 1),
        }


def warehouse_events(warehouse: Warehouse, *, end: datetime, batch: int = 50_000) -> Iterator[dict[str, Any]]:
    """Every event before ``end``, all types merged in ``(event_time, event_id)`` order, labels joined.

    One DuckDB query (the types' views combined ``UNION ALL BY NAME`` and sorted) streamed in Arrow
    batches, so memory stays at a few batches whatever the history's size. Each event keeps only
    its own type's fields (plus the two label columns).
    """
    parts = []
    fields: dict[str, tuple[str, ...]] = {}
    con = warehouse.connect()
    try:
        for et in warehouse.registry:
            fields[et.name] = (*et.field_names, *_LABELS)
            # Label columns are those the loaded labels carry: the simulator's have a pattern, the handbook's
            # loader writes a fraud scenario instead; a missing one is null rather than a binder error.
            have = {row[0] for row in con.sql(f'DESCRIBE "labels_{et.name}"').fetchall()}
            labels = ", ".join(name if name in have else f"NULL AS {name}" for name in _LABELS)
            parts.append(f'SELECT e.*, l.label_is_fraud, l.label_pattern FROM "events_{et.name}" e LEFT JOIN '
                         f'(SELECT event_id, {labels} FROM "labels_{et.name}") l USING (event_id) '
                         f"WHERE e.event_time < $end")
        sql = f"SELECT * FROM ({' UNION ALL BY NAME '.join(parts)}) ORDER BY event_time, event_id"
        for record_batch in con.sql(sql, params={"end": end}).to_arrow_reader(batch):
            yield from _batch_events(record_batch, fields)
    finally:
        con.close()


def _batch_events(record_batch: pa.RecordBatch, fields: Mapping[str, tuple[str, ...]]) -> Iterator[dict[str, Any]]:
    """The batch's rows as event dicts, converted column by column.

    Per event type present, the rows of that type are taken out (Arrow's filter keeps their order)
    and only that type's columns are converted to Python lists, then zipped into rows; the events
    come back in batch order by walking the type column. About twice as fast as ``to_pylist()``
    and a dict comprehension per row (which converted every other type's null columns too).
    Timestamps go through :func:`_column_values` (five times cheaper than Arrow's conversion).
    """
    type_column = record_batch.column("event_type")
    types = type_column.to_pylist()
    rows: dict[str, Iterator[dict[str, Any]]] = {}
    for etype in set(types):
        keep = fields[etype]
        part = record_batch if len(rows) == 0 and types.count(etype) == len(types) else \
            record_batch.filter(pc.equal(type_column, etype))
        rows[etype] = iter([dict(zip(keep, row, strict=True))
                            for row in zip(*[_column_values(part.column(k)) for k in keep], strict=True)])
    for etype in types:
        yield next(rows[etype])


_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def _column_values(column: pa.Array) -> list[Any]:
    """One column as Python values; a timestamp column by its integer microseconds.

    Arrow's own conversion of a zoned timestamp costs ~3.4 µs a value (a ``ZoneInfo`` per value,
    measured on 284k event times: 0.96 s against 0.17 s); epoch + microseconds gives the same
    instant with the ``datetime.UTC`` zone live events carry (which also keeps the feature
    engine's time arithmetic on its fast path). Only microsecond, UTC timestamps take this path.
    """
    kind = column.type
    if not pa.types.is_timestamp(kind) or kind.unit != "us" or kind.tz not in (None, "UTC", "Etc/UTC", "+00:00"):
        return column.to_pylist()  # type: ignore[no-any-return]
    epoch = _EPOCH_NAIVE if kind.tz is None else _EPOCH_UTC
    micro = _MICROSECOND
    ints = column.cast(pa.int64()).to_pylist()
    if column.null_count:
        return [None if us is None else epoch + us * micro for us in ints]
    return [epoch + us * micro for us in ints]


def replay(
    workspace: Workspace,
    candidate: RuleSet,
    *,
    start: datetime,
    end: datetime,
    baseline: tuple[str, RuleSet] | None = None,
    lists: ListLookup | None = None,
    list_names: frozenset[str] | None = None,
    progress: Progress | None = None,
    examples: int = 20,
) -> ReplayReport:
    """Replay ``[start, end)`` through ``candidate`` (and ``baseline``, e.g. the published set)."""
    profiles = ProfileStore.from_warehouse(workspace.warehouse_dir)
    names = workspace_rule_names(workspace, lists=list_names, profiles=profiles)
    migrate_legacy_scorecards(workspace)  # before the deployments are read
    deployed = DeployedModels(workspace)
    compiled = candidate.compile(names=names)
    shadows = [] if baseline is None else [ActiveRuleSet(baseline[0], baseline[1].compile(names=names))]
    feature_set = workspace.features
    if not deployed:  # models read every feature; without them only what the rules read is computed
        feature_set = features_read_by([compiled, *(s.compiled for s in shadows)], feature_set)
    features = OnlineFeatureEngine(feature_set,
                                   allowed_lateness_us=workspace.settings.features.allowed_lateness_seconds * 10**6)
    engine = DecisionEngine(features, ActiveRuleSet(f"{candidate.name} (candidate)", compiled), shadows=shadows,
                            lists=lists, profiles=profiles, deployed=deployed if deployed else None)
    scope = _scope(candidate, baseline[1] if baseline else None)
    report = ReplayReport(ruleset=candidate.name, baseline=None if baseline is None else baseline[0],
                          start=start, end=end)
    for rule in candidate.rules:
        report.rules[rule.name] = RuleStats(rule.name)
    rule_events = {rule.name: _rule_scope(rule) for rule in candidate.rules}
    by_type: dict[str, list[RuleStats]] = {}  # per event type, the stats of the rules that apply to it
    # per (event type, is fraud) the decided events: each rule's in-scope counts are summed from it
    # at the end (was: every applicable rule's counters raised on every event)
    decided: Counter[tuple[str, bool]] = Counter()
    # the same instant in the events' own zone: datetimes of one zone compare without offset calls
    first = start.astimezone(UTC) if start.tzinfo is not None else start
    with Warehouse.open(workspace) as warehouse, _fewer_collections():
        t0 = time.perf_counter()
        seen = warmup = 0
        for event in warehouse_events(warehouse, end=end):
            is_fraud = event.pop("label_is_fraud", None)
            event.pop("label_pattern", None)
            seen += 1
            if progress is not None and seen % 10_000 == 0:
                progress(seen)
            if event["event_time"] < first:
                features.add(event)  # warm-up: state only, no feature values
                warmup += 1
                continue
            etype = event["event_type"]
            if scope is not None and etype not in scope:
                features.update(event)
                continue
            # the live decision's own evaluation; the record (ids, texts, hit dicts) is not built
            verdict = engine.evaluate(event)
            decided[etype, bool(is_fraud)] += 1
            result = verdict.result
            shadow = verdict.shadow_results[0] if verdict.shadow_results else None
            if result.hits:
                stats = by_type.get(etype)
                if stats is None:
                    stats = by_type[etype] = [r for name, r in report.rules.items()
                                              if rule_events[name] is None or etype in rule_events[name]]  # type: ignore[operator]
                _count_hits(result, is_fraud, event.get("amount"), stats)
            _count(report, event, result, shadow, is_fraud, examples)
        if progress is not None:
            progress(seen)
        report.seconds = time.perf_counter() - t0
    report.warmup_events = warmup
    report.events = seen - warmup
    for name, rule_stats in report.rules.items():
        types = rule_events[name]
        for (etype, fraud), n in decided.items():
            if types is None or etype in types:
                rule_stats.in_scope += n
                if fraud:
                    rule_stats.fraud_in_scope += n
    return report


#: The collector's thresholds while replaying (Python's defaults: 700, 10, 10).
_REPLAY_GC_THRESHOLDS = (10_000, 50, 50)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often while replaying (the old thresholds come back after).

    A replay allocates a few objects per event and keeps a large feature state alive: with the
    default thresholds the collector's older generations walk that whole state again and again
    (measured on the full benchmark world: 2.3 s of a 13.7 s replay, 190 middle and 8 full
    collections). With these thresholds: 0.7 s, 3 middle collections and no full one; garbage with
    cycles waits at most ~500,000 allocations longer to be freed.
    """
    old = gc.get_threshold()
    gc.set_threshold(*_REPLAY_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _amount(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _count_hits(result: RuleSetResult, is_fraud: bool | None, amount: Any, rules: list[RuleStats]) -> None:
    """Add one event's hits to the stats of its type's rules."""
    hit_names = {h.rule for h in result.hits}
    for stats in rules:
        if stats.rule in hit_names:
            stats.hits += 1
            if is_fraud is not None:
                stats.labelled_hits += 1
                if is_fraud:
                    stats.fraud_hits += 1
                    stats.fraud_amount += _amount(amount)


def _count(report: ReplayReport, event: Mapping[str, Any], result: RuleSetResult, shadow: RuleSetResult | None,
           is_fraud: bool | None, examples: int) -> None:
    """Add one decided event to the overall figures (the rules' are counted apart)."""
    report.in_scope += 1
    amount = _amount(event.get("amount"))
    action = result.action.value
    if action != "pass":
        report.daily[event["event_time"].date().isoformat()][action] += 1
    shadow_action = None if shadow is None else shadow.action.value
    for outcome, act in ((report.candidate, action), (report.published, shadow_action)):
        if act is None:
            continue
        outcome.actions[act] += 1
        if act != "pass" and is_fraud is not None:
            outcome.flagged += 1
            if is_fraud:
                outcome.flagged_fraud += 1
                outcome.fraud_amount += amount
            else:
                outcome.flagged_normal += 1
    if is_fraud is not None:
        if is_fraud:
            report.fraud += 1
            report.fraud_amount += amount
        else:
            report.normal += 1
    if shadow is not None and shadow_action != action:
        report.changed += 1
        if len(report.changed_examples) < examples:
            report.changed_examples.append({
                "event_id": str(event["event_id"]), "event_type": event["event_type"],
                "event_time": format_timestamp(event["event_time"]), "published": shadow_action,
                "candidate": action, "fraud": is_fraud, "candidate_rules": sorted({h.rule for h in result.hits}),
                "published_rules": sorted(h.rule for h in shadow.hits),
            })


def features_read_by(rulesets: Sequence[CompiledRuleSet], feature_set: FeatureSet) -> FeatureSet:
    """The features ``rulesets`` read (conditions and reasons of enabled rules) and their inputs.

    A feature's value depends only on the events and on the features it derives from, never on
    which other features are declared, so rules see the same values with this subset as with the
    whole set; what replay saves is the state and arithmetic of features nothing reads (7 of the
    demo's 47 features). Replay's report reads rule verdicts only, never the feature values.
    """
    return feature_set.subset(name for rs in rulesets for name in rs.references.get("features", ()))


def _rule_scope(rule: Any) -> frozenset[str] | None:
    events = getattr(rule, "events", None)
    return frozenset(events) if events else None


def _scope(*rulesets: RuleSet | None) -> frozenset[str] | None:
    """Event types any rule looks at (``None``: every type, because some rule has no ``events`` list)."""
    types: set[str] = set()
    for rs in rulesets:
        if rs is None:
            continue
        for rule in rs.rules:
            scope = _rule_scope(rule)
            if scope is None:
                return None
            types |= scope
    return frozenset(types)
