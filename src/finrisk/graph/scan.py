"""The whole network scan: build the graphs, find rings, loops and laundering shapes, propagate risk.

:func:`scan` works on in-memory tables (tests, benchmarks, the AMLSim check); :func:`scan_warehouse` reads a
time range of a workspace's warehouse first. Each step reports to an optional ``progress(step)`` callback so the
CLI can draw a bar without this module knowing about terminals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import Field

from finrisk.errors import QueryError
from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph, transfer_graph_from_frame
from finrisk.graph.chains import ChainParams, find_chains
from finrisk.graph.expansion import ExpandParams, expand_alerts
from finrisk.graph.identity import IdentityGraph, identity_graph_from_frames
from finrisk.graph.loops import LoopParams, find_loops
from finrisk.graph.propagation import PropagationParams, group_scores, network_risk
from finrisk.graph.rings import RingParams, find_rings
from finrisk.graph.structuring import SplitFanParams, find_split_fan_in, find_split_groups
from finrisk.graph.typologies import (
    FanParams,
    FlowParams,
    PassThroughParams,
    find_fan_in,
    find_fan_out,
    find_gather_scatter,
    find_pass_through,
    find_scatter_gather,
)

ENTITY = "account_id"  # the account column of identity tables
STEPS = ("build", "rings", "loops", "chains", "split_chains", "fan_in", "structured_fan_in", "fan_out",
         "scatter_gather", "gather_scatter", "pass_through", "split_groups", "expand", "propagation")


class ScanParams(Params):
    """Parameters of every detector, one validated block each; ``skip`` names steps not to run."""

    loops: LoopParams = Field(default_factory=LoopParams)
    chains: ChainParams = Field(default_factory=ChainParams)
    split_chains: ChainParams | None = None  # a second chain search over split hops (min_legs > 1); off by default
    fan_in: FanParams = Field(default_factory=lambda: FanParams(follow_onward=86400))
    structured_fan_in: SplitFanParams = Field(default_factory=SplitFanParams)
    fan_out: FanParams = Field(default_factory=FanParams)
    flows: FlowParams = Field(default_factory=FlowParams)
    pass_through: PassThroughParams = Field(default_factory=PassThroughParams)
    rings: RingParams = Field(default_factory=RingParams)
    split_groups: SplitFanParams | None = None  # shape-free split-payment groups, seeds for expansion; off by default
    expand: ExpandParams | None = Field(default_factory=ExpandParams)  # grow groups by significant links; None: off
    expand_typologies: frozenset[str] = frozenset({"loop", "chain", "structured_fan_in", "split_group"})
    propagation: PropagationParams = Field(default_factory=PropagationParams)
    skip: frozenset[str] = frozenset()


@dataclass
class ScanResult:
    """Alerts of every typology, network risk per account and the seconds each step took."""

    alerts: list[Alert]
    risk: dict[Any, float]
    seconds: dict[str, float]
    transfers: TransferGraph | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    identities: IdentityGraph | None = None
    counts: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str], None]


def scan(
    transfers: pd.DataFrame, *, identity_frames: Sequence[pd.DataFrame] = (), bad: Iterable[Any] = (),
    params: ScanParams | None = None, progress: Progress | None = None, columns: dict[str, str] | None = None,
) -> ScanResult:
    """Run every step over a transfer table (``account_id, counterparty_account, amount, event_time`` unless
    ``columns`` renames them) and identity tables (``account_id`` plus identifier columns)."""
    p = params or ScanParams()
    bad_set = set(bad)
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    alerts: list[Alert] = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn() if name not in p.skip else None
        seconds[name] = round(time.perf_counter() - t0, 4)
        cpu[name] = round(time.process_time() - c0, 4)
        if progress is not None:
            progress(name)
        return out

    # Step boundaries follow the networkx peer's: "build" is the transfer graph, "rings" builds the identity
    # graph and finds its components (the peer's ring step builds its identity graph too).
    # The build numbers the identity tables' accounts with the transfer ids in one factorisation
    # (``SharedAccounts``), so the identity graph and propagation join the graphs by number.
    shared_ids = [f[ENTITY] for f in identity_frames] if all(ENTITY in f.columns for f in identity_frames) else []
    g: TransferGraph = step("build", lambda: transfer_graph_from_frame(transfers, **(columns or {}),
                                                                       shared_ids=shared_ids))
    ig: IdentityGraph | None = None

    def identity_graph() -> IdentityGraph:
        return identity_graph_from_frames(identity_frames, entity=ENTITY, shared=g.accounts)

    def rings() -> list[Alert]:
        nonlocal ig
        ig = identity_graph() if identity_frames else None
        return find_rings(ig, p.rings, bad=bad_set) if ig is not None else []

    alerts += step("rings", rings) or []
    if ig is None and identity_frames:  # rings skipped: propagation still walks the identity links
        ig = identity_graph()
    alerts += step("loops", lambda: find_loops(g, p.loops)) or []
    alerts += step("chains", lambda: find_chains(g, p.chains)) or []
    split = p.split_chains
    alerts += step("split_chains", lambda: find_chains(g, split) if split is not None else []) or []
    alerts += step("fan_in", lambda: find_fan_in(g, p.fan_in)) or []
    alerts += step("structured_fan_in", lambda: find_split_fan_in(g, p.structured_fan_in)) or []
    alerts += step("fan_out", lambda: find_fan_out(g, p.fan_out)) or []
    alerts += step("scatter_gather", lambda: find_scatter_gather(g, p.flows)) or []
    alerts += step("gather_scatter", lambda: find_gather_scatter(g, p.flows)) or []
    alerts += step("pass_through", lambda: find_pass_through(g, p.pass_through, flows=p.flows)) or []
    groups = p.split_groups
    alerts += step("split_groups", lambda: find_split_groups(g, groups) if groups is not None else []) or []
    grow = p.expand
    alerts = step("expand", lambda: expand_alerts(g, alerts, p.expand_typologies, grow)
                  if grow is not None else alerts) or alerts
    for key in [k for k in g._cache if isinstance(k, tuple) and k[0] == "legs"]:
        del g._cache[key]  # the shared two-hop legs are done with: do not keep them in the result
    risk: dict[Any, float] = {}
    if bad_set:
        risk = step("propagation", lambda: network_risk(bad_set, transfers=g, identities=ig,
                                                         params=p.propagation)) or {}
    else:
        step("propagation", lambda: None)
    if risk:
        alerts = [Alert(a.typology, a.nodes, a.edges, a.score,
                        {**a.details, "network_risk": group_scores(a.nodes, risk)}) for a in alerts]
    counts = pd.Series([a.typology for a in alerts], dtype=object).value_counts().to_dict()
    return ScanResult(alerts=alerts, risk=risk, seconds=seconds, cpu_seconds=cpu, transfers=g, identities=ig,
                      counts={str(k): int(v) for k, v in counts.items()})


IDENTITY_TYPES = ("registration", "login", "loan_application", "profile_update")


def _query(warehouse: Any, sql: str) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = warehouse.sql(sql).to_pandas()
    except QueryError:
        return pd.DataFrame()
    return frame


@dataclass(frozen=True)
class WarehouseSlice:
    """What a scan reads from a workspace: transfers, identity tables and the known-bad accounts."""

    transfers: pd.DataFrame
    identity_frames: list[pd.DataFrame]
    bad: set[Any]


def read_warehouse(warehouse: Any, start: datetime, end: datetime) -> WarehouseSlice:
    """Transfers and identity events with ``start <= event_time < end``; known-bad accounts are those with a
    confirmed-fraud case disposition or a fraud chargeback before ``end``."""
    lo, hi = start.isoformat(), end.isoformat()
    when = f"event_time >= TIMESTAMPTZ '{lo}' AND event_time < TIMESTAMPTZ '{hi}'"
    transfers = _query(warehouse, 'SELECT account_id, counterparty_account, amount, event_time FROM "transaction" '
                                  f"WHERE txn_type = 'transfer' AND counterparty_account IS NOT NULL AND {when}")
    if transfers.empty:
        transfers = pd.DataFrame({"account_id": pd.Series([], dtype=object),
                                  "counterparty_account": pd.Series([], dtype=object),
                                  "amount": pd.Series([], dtype=float), "event_time": pd.Series([], dtype=int)})
    identity = [f for f in (_query(warehouse, f'SELECT * FROM "{t}" WHERE {when}') for t in IDENTITY_TYPES)
                if not f.empty and "account_id" in f.columns]
    bad_frames = [
        _query(warehouse, "SELECT account_id FROM case_disposition WHERE disposition = 'confirmed_fraud' "
                          f"AND account_id IS NOT NULL AND event_time < TIMESTAMPTZ '{hi}'"),
        _query(warehouse, "SELECT account_id FROM chargeback WHERE reason = 'fraud' "
                          f"AND account_id IS NOT NULL AND event_time < TIMESTAMPTZ '{hi}'"),
    ]
    bad = {v for f in bad_frames if "account_id" in f.columns for v in f["account_id"].tolist()}
    return WarehouseSlice(transfers, identity, bad)


def scan_warehouse(
    warehouse: Any, start: datetime, end: datetime, *, params: ScanParams | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """Scan a time range of the warehouse (see :func:`read_warehouse` for what is read)."""
    data = read_warehouse(warehouse, start, end)
    return scan(data.transfers, identity_frames=data.identity_frames, bad=data.bad, params=params,
                progress=progress)
