"""Identity links: account (or applicant) -> shared identifier (device, phone, ID number, card, IP, address...).

Kept as a bipartite pair of code arrays; identifiers are keyed by kind and value so a phone and a device with
the same text never merge.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from finrisk.errors import GraphInputError
from finrisk.graph.build import IntArray, as_epoch_seconds

# Employer is left out by default: colleagues share it by design, so it would tie whole firms into rings.
DEFAULT_IDENTIFIERS = ("device_id", "phone", "id_number", "card_id", "ip", "address")


@dataclass(frozen=True)
class IdentityGraph:
    """Accounts linked to identifiers.

    Parameters
    ----------
    accounts
        Entity id of each account node.
    identifiers
        ``(kind, value)`` of each identifier node.
    link_account, link_identifier
        One row per distinct link.
    first_seen
        Earliest time each account appears (same clock as the events), for "how new" questions.
    """

    accounts: npt.NDArray[Any]
    identifiers: npt.NDArray[Any]
    link_account: IntArray
    link_identifier: IntArray
    first_seen: IntArray

    @property
    def n_accounts(self) -> int:
        return int(len(self.accounts))

    def identifier_degree(self) -> IntArray:
        """Distinct accounts per identifier."""
        return np.bincount(self.link_identifier, minlength=len(self.identifiers)).astype(np.int64)

    def incidence(self, max_accounts_per_identifier: int | None = None) -> sp.csr_matrix:
        """Account x identifier 0/1 matrix, dropping hub identifiers shared by more accounts than the cap."""
        keep = np.ones(len(self.link_account), dtype=bool)
        if max_accounts_per_identifier is not None:
            keep = self.identifier_degree()[self.link_identifier] <= max_accounts_per_identifier
        data = np.ones(int(keep.sum()), dtype=np.float64)
        return sp.csr_matrix((data, (self.link_account[keep], self.link_identifier[keep])),
                             shape=(self.n_accounts, len(self.identifiers)))

    def link_frame(self, links: npt.ArrayLike) -> pd.DataFrame:
        """Evidence rows for link positions: account, identifier kind (the value may be personal data)."""
        idx = np.asarray(links, dtype=np.int64)
        kinds = [k for k, _ in self.identifiers[self.link_identifier[idx]].tolist()]
        return pd.DataFrame({"account": self.accounts[self.link_account[idx]], "kind": kinds,
                             "identifier": self.link_identifier[idx]})


def identity_graph_from_frames(
    frames: Sequence[pd.DataFrame], *, entity: str = "account_id", time: str = "event_time",
    identifiers: Sequence[str] = DEFAULT_IDENTIFIERS,
) -> IdentityGraph:
    """Links from event tables: every non-empty identifier column beside ``entity`` becomes a link."""
    accounts: list[pd.Series] = []
    kinds: list[str] = []
    values: list[pd.Series] = []
    seen_acc: list[pd.Series] = []
    seen_t: list[IntArray] = []
    for frame in frames:
        if entity not in frame.columns:
            raise GraphInputError(entity, "is a required column of every identity table", "absent")
        rows = frame[frame[entity].notna()]
        if time in rows.columns:
            seen_acc.append(rows[entity].astype(object))
            seen_t.append(as_epoch_seconds(rows[time]))
        for col in identifiers:
            if col in rows.columns:
                vals = rows[[entity, col]].dropna()
                text = vals[col].astype(str)
                keep = (text != "").to_numpy()
                accounts.append(vals[entity].astype(object)[keep])
                kinds.append(col)
                values.append(text[keep])
    first_seen = None
    if seen_acc:
        t = pd.Series(np.concatenate(seen_t), index=pd.concat(seen_acc, ignore_index=True).to_numpy())
        first_seen = t.groupby(level=0).min()
    return _assemble(accounts, kinds, values, first_seen)


def _assemble(
    accounts: list[pd.Series], kinds: list[str], values: list[pd.Series], first_seen: pd.Series | None,
) -> IdentityGraph:
    """Factorise accounts once and identifiers per kind (codes offset by kind), then drop repeated links."""
    extra = pd.Series(np.asarray(first_seen.index if first_seen is not None else [], dtype=object), dtype=object)
    all_acc = pd.concat([*(a.astype(object) for a in accounts), extra], ignore_index=True)
    acc_codes, uniques = pd.factorize(all_acc)
    n_links = len(all_acc) - len(extra)
    id_codes: list[IntArray] = []
    identifiers: list[tuple[str, str]] = []
    for kind, vals in zip(kinds, values, strict=True):
        codes, ids = pd.factorize(vals)
        id_codes.append(codes.astype(np.int64) + len(identifiers))
        identifiers.extend(zip(itertools.repeat(kind), ids.tolist()))
    link_id = np.concatenate(id_codes) if id_codes else np.zeros(0, np.int64)
    link_acc = acc_codes[:n_links].astype(np.int64)
    n_ids = max(len(identifiers), 1)
    unique_keys = np.unique(link_acc * n_ids + link_id)
    first = np.full(len(uniques), -1, dtype=np.int64)
    if first_seen is not None and len(first_seen):
        first[acc_codes[n_links:]] = first_seen.to_numpy(np.int64)
    id_array = np.empty(len(identifiers), dtype=object)
    id_array[:] = identifiers
    return IdentityGraph(accounts=np.asarray(uniques, dtype=object), identifiers=id_array,
                         link_account=unique_keys // n_ids, link_identifier=unique_keys % n_ids, first_seen=first)


def build_identity_graph(
    account: npt.ArrayLike, kind: npt.ArrayLike, value: npt.ArrayLike, *, first_seen: pd.Series | None = None,
) -> IdentityGraph:
    """Build from parallel link columns; ``first_seen`` maps account -> earliest time (missing: unknown, -1)."""
    acc = np.asarray(account, dtype=object)
    k = np.asarray(kind, dtype=object)
    v = np.asarray(value, dtype=object)
    if not len(acc) == len(k) == len(v):
        raise GraphInputError("kind/value", f"must have as many rows as 'account' ({len(acc)})", "other lengths")
    frame = pd.DataFrame({"a": acc, "k": k, "v": pd.Series(v, dtype=object).astype(str)})
    groups = [(str(name), grp) for name, grp in frame.groupby("k", sort=False)]
    return _assemble([g["a"] for _, g in groups], [n for n, _ in groups], [g["v"] for _, g in groups], first_seen)
