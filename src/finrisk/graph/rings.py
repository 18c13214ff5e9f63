"""Rings: accounts tied together by shared identifiers (connected components of the identity graph).

Identifiers shared by more than ``max_accounts_per_identifier`` accounts (a public Wi-Fi IP, a merchant
terminal) do not link, so one hub cannot glue the population into a giant ring.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from scipy.sparse.csgraph import connected_components

from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.identity import IdentityGraph


class RingParams(Params):
    """Ring size bounds, the hub cutoff, and what "new account" means (``new_account_age`` on the event clock)."""

    min_size: int = Field(default=3, ge=2)
    max_size: int = Field(default=500, ge=2)
    max_accounts_per_identifier: int = Field(default=20, ge=2)
    new_account_age: int = Field(default=30 * 86400, gt=0)


def ring_labels(ig: IdentityGraph, params: RingParams | None = None) -> tuple[int, np.ndarray]:
    """Component label of every account over non-hub identifier links (``(count, labels)``)."""
    p = params or RingParams()
    inc = ig.incidence(p.max_accounts_per_identifier)
    n_a, n_i = inc.shape
    both = sp.bmat([[None, inc], [inc.T, None]], format="csr", dtype=np.float64) if n_a and n_i else None
    if both is None:
        return n_a, np.arange(n_a)
    count, labels = connected_components(both, directed=False)
    return int(count), labels[:n_a]


def find_rings(
    ig: IdentityGraph, params: RingParams | None = None, *, bad: Iterable[Any] = (), now: int | None = None,
) -> list[Alert]:
    """Components of ``min_size`` to ``max_size`` accounts, with how many are known bad and how new they are."""
    p = params or RingParams()
    _, labels = ring_labels(ig, p)
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if len(labels) else 0)
    chosen = np.nonzero((sizes >= p.min_size) & (sizes <= p.max_size))[0]
    if not len(chosen):
        return []
    bad_set = set(bad)
    is_bad = np.fromiter((a in bad_set for a in ig.accounts.tolist()), dtype=bool, count=ig.n_accounts)
    clock = now if now is not None else int(ig.first_seen.max()) if len(ig.first_seen) else 0
    degree = ig.identifier_degree()
    link_ok = degree[ig.link_identifier] <= p.max_accounts_per_identifier
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], chosen, side="left"), np.searchsorted(labels[order], chosen, side="right")
    kept = np.nonzero(link_ok)[0]
    kept = kept[np.argsort(labels[ig.link_account[kept]], kind="stable")]  # links grouped by ring: one slice each
    kept_ring = labels[ig.link_account[kept]]
    link_lo = np.searchsorted(kept_ring, chosen, side="left")
    link_hi = np.searchsorted(kept_ring, chosen, side="right")
    alerts: list[Alert] = []
    for lo, hi, l_lo, l_hi in zip(bounds[0].tolist(), bounds[1].tolist(), link_lo.tolist(), link_hi.tolist(),
                                  strict=True):
        members = order[lo:hi]
        first = ig.first_seen[members]
        known = first >= 0
        ages = clock - first[known]
        links = np.sort(kept[l_lo:l_hi])
        shared = ig.identifiers[np.unique(ig.link_identifier[links])]
        kinds = sorted({k for k, _ in shared.tolist()})
        alerts.append(Alert(
            typology="ring", nodes=tuple(ig.accounts[members].tolist()), edges=tuple(links.tolist()),
            score=float(len(members)),
            details={"size": int(len(members)), "bad_members": int(is_bad[members].sum()),
                     "new_accounts": int((ages <= p.new_account_age).sum()),
                     "median_age": float(np.median(ages)) if len(ages) else None, "shared_kinds": kinds},
        ))
    return alerts
