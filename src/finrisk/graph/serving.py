"""The network as the API serves it: a graph built on demand from the warehouse, cached, with personal
identifiers replaced by pseudonyms.

The console asks for one entity's neighbourhood at a time, so the graph (transfers, identity links, network
risk) is built once from the workspace and kept for ``ttl_seconds``; alerts come from the relational store
that ``finrisk graph scan`` fills. Identifiers of personal kinds (phone, ID number, name, address, e-mail: the
fields the event types mark ``pii``) leave only as keyed pseudonyms (HMAC-SHA256 under a per-workspace key),
so a response can be shown or logged without exposing them; the same pseudonym can be sent back to walk on.
Cursors carry the graph's generation, so a page never silently mixes two builds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finrisk.errors import GraphInputError, GraphNotReadyError, ServiceNotReadyError
from finrisk.graph.alert_store import GraphAlertStore
from finrisk.graph.build import TransferGraph, transfer_graph_from_frame
from finrisk.graph.identity import DEFAULT_IDENTIFIERS, IdentityGraph, identity_graph_from_frames
from finrisk.graph.propagation import network_risk
from finrisk.graph.query import ACCOUNT_TYPES, IdentityIndex, neighbourhood
from finrisk.graph.scan import ENTITY, read_warehouse

PERSONAL_KINDS = frozenset({"phone", "id_number", "name", "address", "email"})
PSEUDONYM_PREFIX = "ps_"
KEY_FILE = Path("state") / "graph_pseudonym.key"

log = logging.getLogger("finrisk.graph")


class Pseudonymiser:
    """Keyed, stable pseudonyms for personal identifiers (one key per workspace; HMAC, so not reversible)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, kind: str, value: Any) -> str:
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:24]

    @classmethod
    def for_workspace(cls, root: Path) -> Pseudonymiser:
        """The workspace's key, made (owner-readable only) the first time."""
        path = root / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        return cls(path.read_bytes())


@dataclass
class GraphView:
    """One build of the network: transfers, identity links, network risk and the look-ups a request needs."""

    transfers: TransferGraph
    identities: IdentityGraph | None
    risk: dict[Any, float]
    pseudonym: Pseudonymiser
    generation: int = 0
    personal_kinds: frozenset[str] = PERSONAL_KINDS
    _index: IdentityIndex | None = field(default=None, repr=False)
    _reverse: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.identities is not None:
            self._index = IdentityIndex.build(self.identities)
            self._reverse = {(k, self.pseudonym(k, v)): v for k, v in self._index.identifiers
                             if k in self.personal_kinds}

    def kinds(self) -> set[str]:
        return set(ACCOUNT_TYPES) | set(DEFAULT_IDENTIFIERS) | {k for k, _ in (self._index.identifiers
                                                                             if self._index else {})}

    def _resolve(self, entity_type: str, entity_id: str) -> str:
        """Personal identifiers are addressed by pseudonym (as responses show them) or by their value."""
        if entity_type in self.personal_kinds:
            return self._reverse.get((entity_type, entity_id), entity_id)
        return entity_id

    def _shown(self, kind: str, value: Any) -> str:
        return self.pseudonym(kind, value) if kind in self.personal_kinds else str(value)

    def neighbourhood(self, entity_type: str, entity_id: str, *, hops: int = 2, limit: int = 200,
                      cursor: str | None = None, per_node: int = 50,
                      alerts: GraphAlertStore | None = None) -> dict[str, Any]:
        """One page of the entity's neighbourhood, pseudonymised, with the stored alerts touching its accounts."""
        if entity_type not in self.kinds():
            raise GraphInputError("entity_type", f"must be one of {', '.join(sorted(self.kinds()))}",
                                  repr(entity_type[:40]))
        offset = self._offset(cursor)
        page = neighbourhood(self.transfers, entity_type, self._resolve(entity_type, entity_id), hops=hops,
                             limit=limit, cursor=str(offset), per_node=per_node, identities=self.identities,
                             risk=self.risk, identity_index=self._index)
        for node in page["nodes"]:
            node["id"] = self._shown(node["type"], node["id"])
        for edge in page["edges"]:
            if edge["kind"] == "identity":
                edge["target"] = self._shown(edge["target_type"], edge["target"])
        accounts = [n["id"] for n in page["nodes"] if n["type"] == "account"]
        page["alerts"] = [a.summary() for a in alerts.touching(accounts)] if alerts is not None else []
        nxt = page.pop("next_cursor")
        page["next_cursor"] = f"{self.generation}.{nxt}" if nxt is not None else None
        return page

    def _offset(self, cursor: str | None) -> int:
        if not cursor:
            return 0
        gen, _, offset = cursor.partition(".")
        if not (gen.isdigit() and offset.isdigit()):
            raise GraphInputError("cursor", "must be a cursor returned by a previous page", repr(cursor[:40]))
        if int(gen) != self.generation:
            raise GraphInputError("cursor", "belongs to an older build of the graph; start again without it",
                                  repr(cursor[:40]))
        return int(offset)


Loader = Callable[[], tuple[TransferGraph, IdentityGraph | None, set[Any]]]


class CachedGraph:
    """Builds a :class:`GraphView` with ``loader`` in a background thread and keeps it ``ttl_seconds``.

    Why in the background: at a million accounts the build takes most of a minute, far longer than an HTTP
    client waits, and a request thread blocked on it would hold a worker. So the first request starts the build
    and waits at most ``wait_seconds``; if the build is not done it gets :class:`GraphNotReadyError` (503 with
    ``Retry-After``). Once a view exists it is always served at once: a view older than ``ttl_seconds`` is
    rebuilt in the background while the old one keeps answering (a page's cursor names its generation).
    A failed build is reported to the requests waiting on it and retried by the next request.
    """

    def __init__(self, loader: Loader, pseudonym: Pseudonymiser, *, ttl_seconds: float = 300.0,
                 wait_seconds: float = 10.0) -> None:
        self._loader = loader
        self._pseudonym = pseudonym
        self._ttl = ttl_seconds
        self._wait = wait_seconds
        self._lock = threading.Lock()
        self._view: GraphView | None = None
        self._built = 0.0
        self._generation = 0
        self._building: threading.Event | None = None
        self._build_started = 0.0
        self._failure: BaseException | None = None

    def view(self) -> GraphView:
        with self._lock:
            view = self._view
            if view is not None and time.monotonic() - self._built <= self._ttl:
                return view
            done = self._start_build()
        if view is not None:
            return view  # stale-while-rebuilding
        done.wait(self._wait)
        with self._lock:
            if self._view is not None:
                return self._view
            if self._failure is not None and self._building is None:
                failure, self._failure = self._failure, None
                raise ServiceNotReadyError(
                    f"the network could not be built from the warehouse ({type(failure).__name__}); "
                    "the next request tries again") from failure
            waited = time.monotonic() - self._build_started
        raise GraphNotReadyError(f"the network is being built from the warehouse (started {waited:.0f} s ago); "
                                 "ask again shortly", retry_after=5)

    def _start_build(self) -> threading.Event:
        """The running build's completion event, starting a build if none runs (caller holds the lock)."""
        if self._building is None:
            self._building = threading.Event()
            self._build_started = time.monotonic()
            threading.Thread(target=self._build, args=(self._building,), name="finrisk-graph-build",
                             daemon=True).start()
        return self._building

    def _build(self, done: threading.Event) -> None:
        try:
            transfers, identities, bad = self._loader()
            risk = network_risk(bad, transfers=transfers, identities=identities) if bad else {}
            with self._lock:
                self._generation += 1
                self._view = GraphView(transfers, identities, risk, self._pseudonym, generation=self._generation)
                self._built = time.monotonic()
                self._failure = None
        except Exception as exc:  # reported to the waiting request, retried by the next one
            log.error("network build failed", extra={"fields": {"error": type(exc).__name__}})
            with self._lock:
                self._failure = exc
        finally:
            with self._lock:
                self._building = None
            done.set()


def frames_loader(transfers: Any, identity_frames: list[Any], bad: set[Any]) -> Loader:
    """A loader over in-memory tables (the warehouse loader reads the same shapes)."""

    def load() -> tuple[TransferGraph, IdentityGraph | None, set[Any]]:
        # One account numbering for both graphs (as the scan does), so propagation matches no ids.
        ids = [f[ENTITY] for f in identity_frames] if all(ENTITY in f.columns for f in identity_frames) else []
        g = transfer_graph_from_frame(transfers, shared_ids=ids)
        ig = identity_graph_from_frames(identity_frames, shared=g.accounts) if identity_frames else None
        return g, ig, bad

    return load


def warehouse_loader(open_warehouse: Callable[[], Any]) -> Loader:
    """A loader reading every transfer and identity event the workspace holds (the log's pending ones too)."""

    def load() -> tuple[TransferGraph, IdentityGraph | None, set[Any]]:
        data = read_warehouse(open_warehouse(), datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
        return frames_loader(data.transfers, data.identity_frames, data.bad)()

    return load
