"""Identity links: account (or applicant) -> shared identifier (device, phone, ID number, card, IP, address...).

Kept as a bipartite pair of code arrays; identifiers are keyed by kind and value so a phone and a device with
the same text never merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from finrisk.errors import GraphInputError
from finrisk.graph.build import IntArray

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
    parts: list[pd.DataFrame] = []
    seen: list[pd.DataFrame] = []
    for frame in frames:
        if entity not in frame.columns:
            raise GraphInputError(entity, "is a required column of every identity table", "absent")
        rows = frame[frame[entity].notna()]
        if time in rows.columns:
            t = pd.to_datetime(rows[time], utc=True).astype("datetime64[s, UTC]").astype("int64")
            seen.append(pd.DataFrame({"account": rows[entity].to_numpy(), "t": t.to_numpy()}))
        for col in identifiers:
            if col in rows.columns:
                vals = rows[[entity, col]].dropna()
                vals = vals[vals[col].astype(str) != ""]
                parts.append(pd.DataFrame({"account": vals[entity].to_numpy(), "kind": col,
                                           "value": vals[col].astype(str).to_numpy()}))
    links = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["account", "kind", "value"])
    times = pd.concat(seen, ignore_index=True) if seen else pd.DataFrame(columns=["account", "t"])
    return build_identity_graph(links["account"].to_numpy(), links["kind"].to_numpy(), links["value"].to_numpy(),
                                first_seen=times.groupby("account")["t"].min() if len(times) else None)


def build_identity_graph(
    account: npt.ArrayLike, kind: npt.ArrayLike, value: npt.ArrayLike, *, first_seen: pd.Series | None = None,
) -> IdentityGraph:
    """Build from parallel link columns; ``first_seen`` maps account -> earliest time (missing: unknown, -1)."""
    acc = np.asarray(account, dtype=object)
    k = np.asarray(kind, dtype=object)
    v = np.asarray(value, dtype=object)
    if not len(acc) == len(k) == len(v):
        raise GraphInputError("kind/value", f"must have as many rows as 'account' ({len(acc)})", "other lengths")
    extra = np.asarray(first_seen.index, dtype=object) if first_seen is not None else np.zeros(0, dtype=object)
    acc_codes, accounts = pd.factorize(np.concatenate([acc, extra]))
    id_codes = pd.DataFrame({"k": k, "v": v}).groupby(["k", "v"], sort=False).ngroup().to_numpy(np.int64)
    _, first_at = np.unique(id_codes, return_index=True)
    pairs = pd.DataFrame({"a": acc_codes[:len(acc)], "i": id_codes}).drop_duplicates()
    first = np.full(len(accounts), -1, dtype=np.int64)
    if first_seen is not None and len(first_seen):
        first[acc_codes[len(acc):]] = first_seen.to_numpy(np.int64)
    identifiers = np.empty(len(first_at), dtype=object)
    identifiers[:] = list(zip(k[first_at].tolist(), v[first_at].tolist(), strict=True))
    return IdentityGraph(accounts=np.asarray(accounts, dtype=object), identifiers=identifiers,
                         link_account=pairs["a"].to_numpy(np.int64), link_identifier=pairs["i"].to_numpy(np.int64),
                         first_seen=first)
