"""Orchestration: population, planned pattern instances, then day after day of events streamed to disk.

Seed streams (``SeedSequence(seed, spawn_key=...)``): ``(0,)`` the population, ``(1, day)`` the
everyday events, loans and policies of one day, ``(2, pattern, instance)`` one pattern instance,
``(5, day)`` the late labels (chargebacks, case dispositions) about one day's transactions.
Each stream is independent of the others and of how days are grouped into files, so the same seed
gives the same events whatever the part size.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finrisk.simulate.behaviour import DAY_US, daily_events
from finrisk.simulate.config import PATTERN_NAMES, SimulationConfigError, WorldConfig
from finrisk.simulate.frames import EVENT_TYPES, finalize, from_rows
from finrisk.simulate.insurance import policies_and_claims
from finrisk.simulate.late_labels import late_labels
from finrisk.simulate.loans import loan_applications, repayments
from finrisk.simulate.patterns import PATTERNS, Counters, PatternContext
from finrisk.simulate.population import Population, build_population
from finrisk.simulate.writer import open_writer

__all__ = ["FORMATS", "SimulationSummary", "simulate_world"]

FORMATS: tuple[str, ...] = ("parquet", "jsonl")
Progress = Callable[[int, int], None]
_ENTITY_SCHEMA = pa.schema([("entity_type", pa.string()), ("entity_id", pa.string()), ("pattern", pa.string()),
                            ("group_id", pa.string()), ("role", pa.string())])


@dataclass(frozen=True)
class SimulationSummary:
    """What one :func:`simulate_world` run produced.

    Attributes
    ----------
    events_by_type : dict[str, int]
        Events written per event type.
    fraud_events_by_pattern : dict[str, int]
        Events labelled with each injected pattern.
    fraud_entities_by_pattern : dict[str, int]
        Distinct labelled entities (customers, accounts, devices, ...) per pattern.
    loans : int
        Loan applications written.
    default_rate : float
        Share of loan applications with ``label_default``.
    out_dir : pathlib.Path
        Where the world was written.
    elapsed_seconds : float
        Wall time of the run.
    """

    events_by_type: dict[str, int]
    fraud_events_by_pattern: dict[str, int]
    fraud_entities_by_pattern: dict[str, int]
    loans: int
    default_rate: float
    out_dir: Path
    elapsed_seconds: float
    files: list[str] = field(default_factory=list)

    @property
    def total_events(self) -> int:
        return sum(self.events_by_type.values())

    @property
    def events_per_second(self) -> float:
        return self.total_events / max(self.elapsed_seconds, 1e-9)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _epoch_us(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1_000_000


def _plan_patterns(config: WorldConfig, pop: Population, start: int) -> PatternContext:
    """Run every pattern instance once (they are rare); rows are bucketed into days later."""
    ctx = PatternContext(pop=pop, window_start=start, days=config.days,
                         counters=Counters(customer=pop.n, device=len(pop.device_id), card=len(pop.card_id)))
    total_weight = sum(config.weight(p) for p in PATTERN_NAMES) or 1.0
    for i, name in enumerate(PATTERN_NAMES):
        weight = config.weight(name)
        if weight <= 0 or config.fraud_share <= 0:
            continue
        module = PATTERNS[name]
        touched = config.fraud_share * config.customers * weight / total_weight
        for j in range(max(1, round(touched / module.SIZE))):
            ctx.begin(name, f"{name}-{j:04d}", _rng(config.seed, 2, i, j))
            module.inject(ctx)
    return ctx


def _bucket(ctx: PatternContext, start: int, days: int) -> dict[int, dict[str, pa.Table]]:
    out: dict[int, dict[str, pa.Table]] = defaultdict(dict)
    for event_type, rows in ctx.rows.items():
        table = from_rows(event_type, rows)
        day = (table.column("event_time").cast(pa.int64()).to_numpy() - start) // DAY_US
        for d in np.unique(day):
            if 0 <= d < days:
                out[int(d)][event_type] = table.filter(pa.array(day == d))
    return out


def _back_book(config: WorldConfig, pop: Population, start: int, end: int, counters: Counters,
               schedule: Callable[[str, pa.Table | None], None]) -> pa.Table | None:
    """Loans taken in the year before the window: no application events, but repayments inside it."""
    rng = _rng(config.seed, 3)
    borrowers = np.repeat(np.arange(pop.n), rng.poisson(np.where(pop.join_day < 0, config.loan_rate * 365, 0.0)))
    if len(borrowers) == 0:
        return None
    batch = loan_applications(pop, rng, borrowers, day_start=start - 365 * DAY_US, first_loan=counters.loan,
                              spread_days=365)
    counters.loan += len(borrowers)
    schedule("repayment", repayments(rng, batch, pop, window_start=start, window_end=end))
    return batch.table.drop_columns(["event_id", "event_type", "label_is_fraud", "label_pattern", "label_group"]
                                    ).rename_columns(
        {"event_time": "application_time"})


def _back_policies(config: WorldConfig, pop: Population, start: int, end: int, counters: Counters,
                   schedule: Callable[[str, pa.Table | None], None]) -> pa.Table | None:
    """Policies bought in the year before the window: no policy events, but claims inside it."""
    rng = _rng(config.seed, 4)
    buyers = np.repeat(np.arange(pop.n), rng.poisson(np.where(pop.join_day < 0, config.policy_rate * 365, 0.0)))
    if len(buyers) == 0:
        return None
    policies, claims = policies_and_claims(pop, rng, buyers, day_start=start - 365 * DAY_US,
                                           first_policy=counters.policy, first_claim=counters.claim,
                                           window_start=start, window_end=end, spread_days=365)
    counters.policy += len(buyers)
    counters.claim += 0 if claims is None else claims.num_rows
    schedule("claim", claims)
    return policies.drop_columns(["event_id", "event_type", "label_is_fraud", "label_pattern", "label_group"]
                                 ).rename_columns({"event_time": "start_time"})


def _reset(out_dir: Path) -> None:
    for sub in ("events", "labels", "reference"):
        if (out_dir / sub).exists():
            shutil.rmtree(out_dir / sub)
    (out_dir / "reference").mkdir(parents=True)


def simulate_world(config: WorldConfig, out_dir: Path, *, fmt: str = "parquet",
                   progress: Progress | None = None) -> SimulationSummary:
    """Generate the world described by ``config`` into ``out_dir`` and summarise it.

    ``progress`` is called with ``(days_done, days_total)`` after every simulated day.
    """
    if fmt not in FORMATS:
        raise SimulationConfigError(f"The 'fmt' parameter of simulate_world must be one of "
                                    f"{', '.join(FORMATS)}. Got {fmt!r} instead.")
    began = time.perf_counter()
    out_dir = Path(out_dir)
    _reset(out_dir)
    start = _epoch_us(config.start)
    end = start + config.days * DAY_US
    pop = build_population(_rng(config.seed, 0), customers=config.customers, days=config.days,
                           new_customer_share=config.new_customer_share, activity=config.activity)
    ctx = _plan_patterns(config, pop, start)
    injected = _bucket(ctx, start, config.days)
    counters = ctx.counters
    pending: dict[int, dict[str, list[pa.Table]]] = defaultdict(lambda: defaultdict(list))

    def schedule(event_type: str, table: pa.Table | None) -> None:
        if table is None or table.num_rows == 0:
            return
        day = (table.column("event_time").cast(pa.int64()).to_numpy() - start) // DAY_US
        for d in np.unique(day):
            pending[int(d)][event_type].append(table.filter(pa.array(day == d)))

    back_book: list[str] = []
    for name, table in (("back_book_loans", _back_book(config, pop, start, end, counters, schedule)),
                        ("back_book_policies", _back_policies(config, pop, start, end, counters, schedule))):
        if table is not None:  # written now so the table need not stay in memory
            pq.write_table(table, out_dir / "reference" / f"{name}.parquet")
            back_book.append(f"reference/{name}.parquet")
    writer = open_writer(fmt, out_dir, rows_per_part=config.rows_per_part)
    counts: Counter[str] = Counter()
    fraud: Counter[str] = Counter()
    loans = defaults = 0
    for day in range(config.days):
        rng = _rng(config.seed, 1, day)
        day_start = start + day * DAY_US
        the_date = date.fromordinal(config.start.toordinal() + day)
        tables = daily_events(pop, rng, day=day, day_start=day_start, weekday=the_date.weekday(),
                              day_of_month=the_date.day)
        active = (pop.join_day < day).astype(np.float64)
        applicants = np.repeat(np.arange(pop.n), rng.poisson(config.loan_rate * active))
        if len(applicants):
            batch = loan_applications(pop, rng, applicants, day_start=day_start, first_loan=counters.loan)
            counters.loan += len(applicants)
            tables.setdefault("loan_application", []).append(batch.table)
            schedule("repayment", repayments(rng, batch, pop, window_start=start, window_end=end))
        buyers = np.repeat(np.arange(pop.n), rng.poisson(config.policy_rate * active))
        if len(buyers):
            policies, claims = policies_and_claims(pop, rng, buyers, day_start=day_start,
                                                   first_policy=counters.policy, first_claim=counters.claim,
                                                   window_start=start, window_end=end)
            counters.policy += len(buyers)
            counters.claim += 0 if claims is None else claims.num_rows
            tables.setdefault("insurance_policy", []).append(policies)
            schedule("claim", claims)
        for event_type, table in injected.pop(day, {}).items():
            tables.setdefault(event_type, []).append(table)
        for event_type, more in pending.pop(day, {}).items():
            tables.setdefault(event_type, []).extend(more)
        for event_type in EVENT_TYPES:
            parts = [t for t in tables.get(event_type, []) if t.num_rows]
            if not parts:
                continue
            table = finalize(event_type, parts, counts[event_type])
            counts[event_type] += table.num_rows
            if event_type == "transaction":  # chargebacks and confirmed cases land on later days
                for label_type, labels in late_labels(table, _rng(config.seed, 5, day), window_end=end).items():
                    schedule(label_type, labels)
            patterns = pc.value_counts(table.column("label_pattern").drop_null())
            for item in patterns.to_pylist():
                fraud[item["values"]] += item["counts"]
            if event_type == "loan_application":
                loans += table.num_rows
                defaults += int(pc.sum(table.column("label_default")).as_py() or 0)
            writer.write(event_type, table)
        if progress is not None:
            progress(day + 1, config.days)
    files = writer.close()
    files += _write_reference(out_dir, pop, ctx)
    files += back_book
    entities = pa.Table.from_pylist(ctx.entities, schema=_ENTITY_SCHEMA)
    distinct = {(e["pattern"], e["entity_type"], e["entity_id"]) for e in ctx.entities}
    summary = SimulationSummary(
        events_by_type={t: counts[t] for t in EVENT_TYPES if counts[t]},
        fraud_events_by_pattern={p: fraud[p] for p in PATTERN_NAMES if fraud[p]},
        fraud_entities_by_pattern=dict(sorted(Counter(p for p, _, _ in distinct).items())),
        loans=loans, default_rate=defaults / loans if loans else 0.0, out_dir=out_dir,
        elapsed_seconds=time.perf_counter() - began, files=sorted(files))
    _write_manifest(out_dir, config, fmt, summary, entities.num_rows)
    return summary


def _write_reference(out_dir: Path, pop: Population, ctx: PatternContext) -> list[str]:
    customers = pop.customer_rows()
    if ctx.customers:
        extra = pa.Table.from_pylist(
            [dict(r, employer_id=None, circle_id=None) for r in ctx.customers], schema=customers.schema)
        customers = pa.concat_tables([customers, extra])
    tables = {"customers": customers, "merchants": pop.merchant_rows(),
              "entity_labels": pa.Table.from_pylist(ctx.entities, schema=_ENTITY_SCHEMA)}
    for name, table in tables.items():
        pq.write_table(table, out_dir / "reference" / f"{name}.parquet")
    return [f"reference/{name}.parquet" for name in tables]


def _write_manifest(out_dir: Path, config: WorldConfig, fmt: str, summary: SimulationSummary,
                    entity_labels: int) -> None:
    manifest: dict[str, Any] = {
        "format": "finrisk-sim", "version": 1, "config": config.to_dict(), "event_format": fmt,
        "counts": summary.events_by_type, "files": summary.files,
        "fraud_events_by_pattern": summary.fraud_events_by_pattern, "entity_labels": entity_labels,
        "loans": summary.loans, "default_rate": round(summary.default_rate, 6),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
