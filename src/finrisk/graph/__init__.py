"""The relationship network: transfer and identity graphs, rings, fund loops, laundering shapes, risk.

Build a :class:`TransferGraph` (``build_transfer_graph`` / ``transfer_graph_from_frame``) and an
:class:`IdentityGraph`, then run the detectors one by one or all at once with :func:`scan`
(``scan_warehouse`` for a workspace). Every detector returns :class:`Alert` objects carrying their evidence
subgraph. See ``docs/graph.md``.
"""

from __future__ import annotations

from finrisk.graph.alerts import Alert, alerts_to_frame, flagged_nodes
from finrisk.graph.build import TransferGraph, build_transfer_graph, transfer_graph_from_frame
from finrisk.graph.chains import ChainParams, find_chains
from finrisk.graph.expansion import ExpandParams, expand_alerts
from finrisk.graph.identity import IdentityGraph, build_identity_graph, identity_graph_from_frames
from finrisk.graph.live import LiveGraph
from finrisk.graph.loops import LoopParams, find_loops
from finrisk.graph.propagation import PropagationParams, group_scores, network_risk, personalised_pagerank
from finrisk.graph.query import neighbourhood
from finrisk.graph.rings import RingParams, find_rings
from finrisk.graph.scan import ScanParams, ScanResult, scan, scan_warehouse
from finrisk.graph.structuring import SplitFanParams, find_split_fan_in
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

__all__ = [
    "Alert",
    "ChainParams",
    "ExpandParams",
    "FanParams",
    "FlowParams",
    "IdentityGraph",
    "LiveGraph",
    "LoopParams",
    "PassThroughParams",
    "PropagationParams",
    "RingParams",
    "ScanParams",
    "ScanResult",
    "SplitFanParams",
    "TransferGraph",
    "alerts_to_frame",
    "build_identity_graph",
    "build_transfer_graph",
    "expand_alerts",
    "find_chains",
    "find_fan_in",
    "find_fan_out",
    "find_gather_scatter",
    "find_loops",
    "find_pass_through",
    "find_rings",
    "find_scatter_gather",
    "find_split_fan_in",
    "flagged_nodes",
    "group_scores",
    "identity_graph_from_frames",
    "neighbourhood",
    "network_risk",
    "personalised_pagerank",
    "scan",
    "scan_warehouse",
    "transfer_graph_from_frame",
]
