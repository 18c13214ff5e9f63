"""Live graph features, kept up to date per event in plain dicts (no array rebuilds on the hot path).

``LiveGraph.update(event)`` learns an event; ``LiveGraph.features(event)`` reads the graph as it stands
(pure: call it before ``update`` to score an event against what came before it). Links through identifiers
shared by more than ``max_accounts_per_identifier`` accounts stop joining clusters (public Wi-Fi, terminals);
links made before an identifier became a hub stay (union-find cannot split).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

IDENTIFIER_FIELDS = {"device_id": "device", "phone": "phone", "ip": "ip"}
LINK_FIELDS = ("device_id", "phone", "ip", "id_number", "card_id", "address")
Key = tuple[str, str]


def _seconds(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class LiveGraph:
    """Incremental identity and transfer graph answering per-event network questions.

    Parameters
    ----------
    window : float
        Seconds counted as "recent" for shared identifiers (default 30 days).
    loop_window : float
        Seconds a fund loop may take from first to closing hop (default 7 days).
    max_loop_hops : int
        Longest loop checked, in hops (default 4; each extra hop costs fan-out^hop).
    max_accounts_per_identifier : int
        Identifiers shared by more accounts do not link clusters or count as paths to bad entities.
    fan_cap : int
        Neighbours looked at per node in searches, so hubs keep the cost bounded.

    Examples
    --------
    >>> g = LiveGraph()
    >>> g.update({"event_type": "login", "event_time": 0, "account_id": "a", "device_id": "D"})
    >>> feats = g.features({"event_type": "login", "event_time": 5, "account_id": "b", "device_id": "D"})
    >>> feats["device_accounts_ever"], feats["cluster_size"]
    (1, None)
    """

    def __init__(self, *, window: float = 30 * 86400.0, loop_window: float = 7 * 86400.0, max_loop_hops: int = 4,
                 max_accounts_per_identifier: int = 20, fan_cap: int = 32) -> None:
        self.window = window
        self.loop_window = loop_window
        self.max_loop_hops = max_loop_hops
        self.max_accounts_per_identifier = max_accounts_per_identifier
        self.fan_cap = fan_cap
        self._id_accounts: dict[Key, dict[str, float]] = {}
        self._account_ids: dict[str, set[Key]] = {}
        self._parent: dict[str, str] = {}
        self._size: dict[str, int] = {}
        self._bad_in: dict[str, int] = {}
        self._bad: set[str] = set()
        self._peers: dict[str, set[str]] = {}
        self._inbound: dict[str, deque[tuple[float, str]]] = {}
        self._outbound: dict[str, deque[tuple[float, str, float]]] = {}

    # -- learning ---------------------------------------------------------------------------------
    def update(self, event: Mapping[str, Any]) -> None:
        """Learn one event: identifier links, transfers, and confirmed-fraud dispositions."""
        account = event.get("account_id")
        if not account:
            return
        now = _seconds(event["event_time"])
        if event.get("event_type") == "case_disposition" and event.get("disposition") == "confirmed_fraud":
            self.mark_bad(account)
            return
        self._touch(account)
        for kind in LINK_FIELDS:
            value = event.get(kind)
            if value:
                self._link(account, (kind, str(value)), now)
        target = event.get("counterparty_account")
        if target and event.get("txn_type", "transfer") == "transfer":
            self._touch(target)
            self._peers[account].add(target)
            self._peers[target].add(account)
            inbound = self._inbound.setdefault(target, deque())
            inbound.append((now, account))
            while inbound and inbound[0][0] < now - 3600.0:
                inbound.popleft()
            out = self._outbound.setdefault(account, deque())
            out.append((now, target, float(event.get("amount") or 0.0)))
            while out and out[0][0] < now - self.loop_window:
                out.popleft()

    def mark_bad(self, account: str) -> None:
        """Record a known-bad account (a confirmed case, a list hit)."""
        if account in self._bad:
            return
        self._touch(account)
        self._bad.add(account)
        root = self._find(account)
        self._bad_in[root] = self._bad_in.get(root, 0) + 1

    def _touch(self, account: str) -> None:
        if account not in self._parent:
            self._parent[account] = account
            self._size[account] = 1
            self._account_ids[account] = set()
            self._peers[account] = set()

    def _link(self, account: str, key: Key, now: float) -> None:
        holders = self._id_accounts.setdefault(key, {})
        holders[account] = now
        self._account_ids[account].add(key)
        if len(holders) <= self.max_accounts_per_identifier:
            for other in holders:
                if other != account:
                    self._union(account, other)
                    break  # every holder is already in one cluster

    def _find(self, node: str) -> str:
        parent = self._parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size.pop(rb)
        self._bad_in[ra] = self._bad_in.get(ra, 0) + self._bad_in.pop(rb, 0)

    # -- reading ----------------------------------------------------------------------------------
    def features(self, event: Mapping[str, Any]) -> dict[str, float | int | None]:
        """Network features of ``event`` against the graph learnt so far (does not change the graph)."""
        now = _seconds(event["event_time"])
        account = event.get("account_id")
        out: dict[str, float | int | None] = {}
        for kind, name in IDENTIFIER_FIELDS.items():
            value = event.get(kind)
            holders = self._id_accounts.get((kind, str(value))) if value else None
            if holders is None:
                out[f"{name}_accounts_ever"] = 0 if value else None
                out[f"{name}_accounts_window"] = 0 if value else None
                continue
            since = now - self.window
            out[f"{name}_accounts_ever"] = sum(1 for a in holders if a != account)
            out[f"{name}_accounts_window"] = sum(1 for a, t in holders.items() if a != account and t >= since)
        if account and account in self._parent:
            root = self._find_readonly(account)
            size = self._size[root]
            out["cluster_size"] = size
            out["cluster_bad_share"] = self._bad_in.get(root, 0) / size
            out["hops_to_bad"] = self._hops_to_bad(account)
        else:
            out["cluster_size"] = None
            out["cluster_bad_share"] = None
            out["hops_to_bad"] = None
        target = event.get("counterparty_account")
        if target:
            inbound = self._inbound.get(target, ())
            out["receiver_senders_1h"] = len({s for t, s in inbound if t >= now - 3600.0} | {account})
            out["closes_loop"] = int(bool(account) and self._closes_loop(str(account), target, now))
        else:
            out["receiver_senders_1h"] = None
            out["closes_loop"] = None
        return out

    def _find_readonly(self, node: str) -> str:
        parent = self._parent
        while parent[node] != node:
            node = parent[node]
        return node

    def _hops_to_bad(self, account: str) -> int | None:
        """Breadth-first over accounts, shared identifiers and transfer peers, at most 3 hops."""
        if account in self._bad:
            return 0
        if not self._bad:
            return None
        seen_accounts = {account}
        seen_ids: set[Key] = set()
        frontier: list[tuple[str, Key | None]] = [(account, None)]
        cap = self.fan_cap
        for hop in range(1, 4):
            nxt: list[tuple[str, Key | None]] = []
            for node, ident in frontier:
                if ident is not None:  # at an identifier: step to the accounts holding it
                    holders = self._id_accounts[ident]
                    if len(holders) > self.max_accounts_per_identifier:
                        continue
                    for other in list(holders)[:cap]:
                        if other not in seen_accounts:
                            if other in self._bad:
                                return hop
                            seen_accounts.add(other)
                            nxt.append((other, None))
                    continue
                for key in list(self._account_ids.get(node, ()))[:cap]:
                    if key not in seen_ids:
                        seen_ids.add(key)
                        nxt.append((node, key))
                for peer in list(self._peers.get(node, ()))[:cap]:
                    if peer not in seen_accounts:
                        if peer in self._bad:
                            return hop
                        seen_accounts.add(peer)
                        nxt.append((peer, None))
            frontier = nxt
            if not frontier:
                break
        return None

    def _closes_loop(self, source: str, target: str, now: float) -> bool:
        """Is there an earlier time-respecting path target -> ... -> source, which this transfer closes?"""
        start = now - self.loop_window
        frontier: list[tuple[str, float]] = [(target, start)]
        for _ in range(self.max_loop_hops - 1):
            nxt: list[tuple[str, float]] = []
            for node, after in frontier:
                out = self._outbound.get(node)
                if not out:
                    continue
                count = 0
                for t, dst, _amount in out:
                    if t <= after or t > now:
                        continue
                    if dst == source:
                        return True
                    if dst != target:
                        nxt.append((dst, t))
                    count += 1
                    if count >= self.fan_cap:
                        break
            frontier = nxt
            if not frontier:
                break
        return False
