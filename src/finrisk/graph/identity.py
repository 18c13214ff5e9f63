"""Identity links: account (or applicant) -> shared identifier (device, phone, ID number, card, IP, address...).

Kept as a bipartite pair of code arrays; identifiers are keyed by kind and value so a phone and a device with
the same text never merge.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from finrisk.errors import GraphInputError
from finrisk.graph._strings import factorize_strings
from finrisk.graph.build import IntArray, SharedAccounts, _dense_codes, as_epoch_seconds, unique_pairs

# Employer is left out by default: colleagues share it by design, so it would tie whole firms into rings.
DEFAULT_IDENTIFIERS = ("device_id", "phone", "id_number", "card_id", "ip", "address")


class IdentifierTable:
    """``(kind, value)`` of each identifier node, stored as one value array per kind (identifiers of one kind are
    numbered together). Tuples are made only when asked for: making all 3 M of them took 0.8 s of the rings
    step at 1 M accounts, which needs only the kinds. Indexes like the object array of tuples it replaces."""

    def __init__(self, kinds: Sequence[str], values: Sequence[Any]) -> None:
        self.kinds = tuple(kinds)
        self._values = list(values)
        self.starts = np.cumsum([0, *(len(v) for v in self._values)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def kind_codes(self, positions: npt.ArrayLike) -> IntArray:
        """Index into :attr:`kinds` of each identifier position."""
        return np.searchsorted(self.starts, np.asarray(positions, dtype=np.int64), side="right") - 1

    def _one(self, position: int) -> tuple[str, Any]:
        if not 0 <= position < len(self):
            raise IndexError(position)
        kind = int(np.searchsorted(self.starts, position, side="right")) - 1
        return self.kinds[kind], self._values[kind][int(position - self.starts[kind])]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self._one(int(key) + len(self) if key < 0 else int(key))
        positions = np.arange(len(self))[key]
        out = np.empty(len(positions), dtype=object)
        out[:] = [self._one(int(i)) for i in positions.tolist()]
        return out

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for kind, values in zip(self.kinds, self._values, strict=True):
            yield from zip(itertools.repeat(kind), values.tolist())

    def tolist(self) -> list[tuple[str, Any]]:
        return list(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdentifierTable) and self.tolist() == other.tolist()

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class IdentityGraph:
    """Accounts linked to identifiers.

    Parameters
    ----------
    accounts
        Entity id of each account node.
    identifiers
        ``(kind, value)`` of each identifier node (an :class:`IdentifierTable`).
    link_account, link_identifier
        One row per distinct link.
    first_seen
        Earliest time each account appears (same clock as the events), for "how new" questions.
    shared, account_numbers
        When built over a transfer graph's :class:`SharedAccounts`: that numbering, and each account's number
        in it (the transfer graph's node id for an account that also transfers), so the two graphs join without
        matching ids. None otherwise.
    """

    accounts: npt.NDArray[Any]
    identifiers: IdentifierTable
    link_account: IntArray
    link_identifier: IntArray
    first_seen: IntArray
    shared: SharedAccounts | None = field(default=None, compare=False)
    account_numbers: IntArray | None = field(default=None, compare=False)

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
        names = np.asarray(self.identifiers.kinds, dtype=object)
        kinds = names[self.identifiers.kind_codes(self.link_identifier[idx])].tolist() if len(idx) else []
        return pd.DataFrame({"account": self.accounts[self.link_account[idx]], "kind": kinds,
                             "identifier": self.link_identifier[idx]})


_Block = tuple[int, IntArray, str, pd.Series]  # (table number, account codes local to it, kind, values)


def _factorize(values: pd.Series, *, objects: bool = True) -> tuple[IntArray, Any]:
    """Codes and distinct values in first-appearance order; short Arrow strings by the compiled table (their
    distinct values left as Arrow strings when ``objects`` is false: identifier values, read only on demand)."""
    fast = factorize_strings(values.reset_index(drop=True), objects=objects)
    if fast is not None:
        return fast
    codes, found = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(found, dtype=object)


def identity_graph_from_frames(
    frames: Sequence[pd.DataFrame], *, entity: str = "account_id", time: str = "event_time",
    identifiers: Sequence[str] = DEFAULT_IDENTIFIERS, shared: SharedAccounts | None = None,
) -> IdentityGraph:
    """Links from event tables: every non-empty identifier column beside ``entity`` becomes a link.

    The entity column is factorised once per table (not once per identifier column), and identifiers of one
    kind are factorised across all tables together, so a device seen at registration and at login is one node.
    With ``shared`` (a transfer graph's :class:`SharedAccounts` made from these tables' ``entity`` columns, in
    order) the entity columns are already numbered: their numbers are renumbered as small integers instead of
    hashing the ids again, giving the same accounts in the same order.
    """
    if shared is not None and len(shared.codes) != len(frames):
        raise GraphInputError("shared", f"must number the account column of each of the {len(frames)} tables",
                              f"{len(shared.codes)} columns")
    uniques: list[npt.NDArray[Any]] = []
    blocks: list[_Block] = []
    seen: list[tuple[int, IntArray, IntArray]] = []
    for number, frame in enumerate(frames):
        if entity not in frame.columns:
            raise GraphInputError(entity, "is a required column of every identity table", "absent")
        if shared is not None:
            codes, found = _renumber(shared.codes[number], len(shared.names))
        else:
            codes, found = _factorize(frame[entity])
        uniques.append(found)
        present = codes >= 0
        everyone = bool(present.all())
        if time in frame.columns:
            times = frame[time] if everyone else frame[time][present]
            seen.append((number, codes[present].astype(np.int64), as_epoch_seconds(times)))
        for col in identifiers:
            if col not in frame.columns:
                continue
            column = frame[col]
            ok = present & column.notna().to_numpy()
            text = (column if bool(ok.all()) else column[ok]).astype(str)
            filled = (text != "").to_numpy()
            blocks.append((number, codes[ok][filled].astype(np.int64), col, text[filled]))
    return _assemble(uniques, blocks, seen, shared)


def _renumber(numbers: IntArray, n_numbers: int) -> tuple[IntArray, IntArray]:
    """Codes in first-appearance order (-1 where ``numbers`` is -1, a missing id) and the distinct numbers:
    what factorising the ids would give, from their shared numbers."""
    present = numbers >= 0
    if bool(present.all()):
        return _dense_codes(numbers, n_numbers)
    codes = np.full(len(numbers), -1, dtype=np.int64)
    codes[present], found = _dense_codes(numbers[present], n_numbers)
    return codes, found


def _assemble(
    uniques: list[npt.NDArray[Any]], blocks: list[_Block], seen: list[tuple[int, IntArray, IntArray]],
    shared: SharedAccounts | None = None,
) -> IdentityGraph:
    """Accounts factorised across tables (only the small per-table uniques: their shared numbers when
    ``shared`` is given), identifiers per kind (codes offset by kind), repeated links dropped, first-seen time
    per account."""
    all_uniques = np.concatenate(uniques) if uniques else np.zeros(0, dtype=object)
    if len(uniques) == 1:  # one table: its distinct accounts are already numbered in first-appearance order
        global_codes, accounts = np.arange(len(all_uniques)), all_uniques
    elif shared is not None:
        global_codes, accounts = _dense_codes(all_uniques.astype(np.int64), len(shared.names))
    else:
        global_codes, found = pd.factorize(pd.Series(all_uniques, dtype=object))
        accounts = np.asarray(found, dtype=object)
    numbers: IntArray | None = None
    if shared is not None:
        numbers = np.asarray(accounts, dtype=np.int64)
        accounts = shared.names[numbers]
    offsets = np.cumsum([0, *(len(u) for u in uniques)])
    remap = [global_codes[offsets[i]:offsets[i + 1]].astype(np.int64) for i in range(len(uniques))]
    link_acc_parts: list[IntArray] = []
    link_id_parts: list[IntArray] = []
    kinds = list(dict.fromkeys(b[2] for b in blocks))
    id_values: list[Any] = []
    n_so_far = 0
    for kind in kinds:
        mine = [b for b in blocks if b[2] == kind]
        values = mine[0][3] if len(mine) == 1 else pd.concat([b[3] for b in mine], ignore_index=True)
        codes, ids = _factorize(values, objects=False)
        link_id_parts.append(codes + n_so_far)
        link_acc_parts.append(np.concatenate([remap[b[0]][b[1]] for b in mine]))
        id_values.append(ids)
        n_so_far += len(ids)
    identifiers = IdentifierTable(kinds, id_values)
    link_id = np.concatenate(link_id_parts) if link_id_parts else np.zeros(0, np.int64)
    link_acc = np.concatenate(link_acc_parts) if link_acc_parts else np.zeros(0, np.int64)
    link_account, link_identifier = unique_pairs(link_acc, link_id, len(accounts))
    first = np.full(len(accounts), -1, dtype=np.int64)
    if seen:
        who = np.concatenate([remap[number][codes] for number, codes, _ in seen])
        when = np.concatenate([t for _, _, t in seen])
        if len(who):  # earliest time per account (ufunc.at: 0.02 s for 1 M rows where a groupby took 0.09 s)
            never = np.iinfo(np.int64).max
            earliest = np.full(len(accounts), never, dtype=np.int64)
            np.minimum.at(earliest, who, when)
            seen_at = earliest != never
            first[seen_at] = earliest[seen_at]
    return IdentityGraph(accounts=np.asarray(accounts, dtype=object), identifiers=identifiers,
                         link_account=link_account, link_identifier=link_identifier, first_seen=first,
                         shared=shared, account_numbers=numbers)


def build_identity_graph(
    account: npt.ArrayLike, kind: npt.ArrayLike, value: npt.ArrayLike, *, first_seen: pd.Series | None = None,
) -> IdentityGraph:
    """Build from parallel link columns; ``first_seen`` maps account -> earliest time (missing: unknown, -1)."""
    acc = np.asarray(account, dtype=object)
    k = np.asarray(kind, dtype=object)
    v = np.asarray(value, dtype=object)
    if not len(acc) == len(k) == len(v):
        raise GraphInputError("kind/value", f"must have as many rows as 'account' ({len(acc)})", "other lengths")
    codes, found = pd.factorize(pd.Series(acc, dtype=object))
    text = pd.Series(v, dtype=object).astype(str)
    kinds = pd.Series(k, dtype=object)
    blocks: list[_Block] = [(0, codes[(kinds == name).to_numpy()].astype(np.int64), str(name),
                             text[(kinds == name).to_numpy()]) for name in dict.fromkeys(k.tolist())]
    uniques = [np.asarray(found, dtype=object)]
    seen: list[tuple[int, IntArray, IntArray]] = []
    if first_seen is not None and len(first_seen):
        uniques.append(np.asarray(first_seen.index, dtype=object))
        seen.append((1, np.arange(len(first_seen), dtype=np.int64), first_seen.to_numpy(np.int64)))
    return _assemble(uniques, blocks, seen)
