"""The live decision service: validate, decide, log durably, answer; idempotent by ``event_id``.

The order of work for one event is fixed:

1. validate the body (bad input never touches state);
2. under one lock: if the ``event_id`` already has a decision (stored or in flight), the caller gets
   that decision back and nothing is counted twice; otherwise the engine computes the decision and
   the event joins the feature state;
3. outside the lock: wait until the event *and* its decision are committed to the log (group
   commit, see :mod:`finrisk.decisions.writer`), then answer.

So an acknowledged decision is always on disk, and a retry (even one racing the first call) returns
the same decision. If the commit fails the caller gets a 503 and the feature state holds an event
the log lacks; the state is rebuilt from the log at the next start, so the log stays the truth.

Start-up restores the online feature state from the snapshot written at the last clean stop and
applies the log after it (or rebuilds from the whole log in event-time order), then writes a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from finrisk.config import Workspace
from finrisk.decisions.credit import credit_verdict
from finrisk.decisions.declared_lists import declare_lists
from finrisk.decisions.deployed_models import DeployedModels
from finrisk.decisions.engine import ActiveRuleSet, DecisionEngine, ModelScorer, workspace_rule_names
from finrisk.decisions.live_rules import RuleSetWatcher
from finrisk.decisions.model import Decision, IngestResult
from finrisk.decisions.profiles import ProfileStore
from finrisk.decisions.writer import CommitTicket, GroupCommitWriter, committed, when_committed
from finrisk.decisions.writer_process import ProcessCommitWriter
from finrisk.errors import (
    EventConflictError,
    FinriskError,
    SnapshotError,
    StoreError,
    WorkspaceError,
)
from finrisk.events.validate import EventValidator, sent_time_text
from finrisk.features.online import OnlineFeatureEngine
from finrisk.rules import RuleNames, RuleSet, load_ruleset, parse_ruleset
from finrisk.rules.lists import ListStore
from finrisk.rules.versions import RuleSetRepository
from finrisk.scoring.registered import migrate_legacy_scorecards
from finrisk.store.embedded_log import EmbeddedEventLog, body_hash_of, fast_canonical_json, open_log
from finrisk.store.log import AppendResult, AppendStatus
from finrisk.store.relational import open_database

__all__ = ["DecisionService", "SNAPSHOT_FILE"]

#: The online feature state saved at a clean stop, relative to the workspace.
SNAPSHOT_FILE = Path("state") / "online.snapshot"
_COMMIT_TIMEOUT_S = 30.0
_log = logging.getLogger("finrisk.service")

Progress = Callable[[int, int], None]
LogWriterKind = Literal["thread", "process"]


class DecisionService:
    """Decisions for one workspace, thread-safe; see the module docstring for the guarantees."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        log: EmbeddedEventLog,
        features: OnlineFeatureEngine,
        lists: ListStore,
        rulesets: RuleSetRepository,
        profiles: ProfileStore,
        ruleset_name: str,
        scorers: Sequence[ModelScorer] = (),
        deployed: DeployedModels | None = None,
        rules_check_interval_s: float | None = 0.5,
        log_writer: LogWriterKind = "thread",
        loop: asyncio.AbstractEventLoop | None = None,
        log_pace_s: float = 0.0,
    ) -> None:
        self.workspace = workspace
        self.log = log
        self.lists = lists
        self.rulesets = rulesets
        self.profiles = profiles
        self._validator = EventValidator(workspace.event_types)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, CommitTicket, Decision | None]] = {}
        self._started = time.time()
        self.decisions_made = 0
        self.ruleset_name = ruleset_name
        # what this service's API saves or publishes must compile here, or it is refused with nothing stored
        rulesets.validate = self._check_text
        self._reload_lock = threading.Lock()
        self._rules_state = rulesets.live_state(ruleset_name)
        self.engine = DecisionEngine(features, self._active(self.ruleset_name), shadows=self._shadows(),
                                     lists=lists, profiles=profiles, scorers=scorers, deployed=deployed)
        if log_writer not in ("thread", "process"):
            raise StoreError(f"log_writer: expected 'thread' or 'process', got {log_writer!r}")
        # "process" for a long-running server (finrisk serve): commits run beside the GIL (writer_process)
        self._writer: GroupCommitWriter | ProcessCommitWriter = (
            ProcessCommitWriter(log, loop=loop, pace_s=log_pace_s) if log_writer == "process"
            else GroupCommitWriter(log))
        # publishes, rollbacks and shadow changes from any process (CLI, another service) go live
        # within about a second; None or a private in-memory store: only through reload_rules()
        self._rules_watcher = (None if rules_check_interval_s is None or rulesets.db.private
                               else RuleSetWatcher(self.sync_rules, interval_s=rules_check_interval_s))

    # --- start and stop -------------------------------------------------------------------------
    @classmethod
    def open(cls, workspace: Workspace, *, rebuild_progress: Progress | None = None,
             log_writer: LogWriterKind = "thread", loop: asyncio.AbstractEventLoop | None = None,
             log_pace_s: float = 0.0) -> DecisionService:
        """The service for ``workspace``: log, lists and rule versions opened, feature state loaded.

        ``log_writer``: ``"thread"`` commits from a thread of this process; ``"process"`` from a
        child process (what ``finrisk serve`` uses: see :mod:`finrisk.decisions.writer_process`),
        whose socket ``loop`` (the server's event loop), when given, drives, and which starts a
        commit no sooner than ``log_pace_s`` after the previous one.
        """
        log = open_log(workspace)
        try:
            log.track_ids()  # a new event_id then costs no database read to tell it from a retry
            features = _load_features(workspace, log, rebuild_progress)
            db = open_database(workspace.database_url)
            rulesets = RuleSetRepository(db, validate=lambda text: parse_ruleset(text))
            lists = ListStore(db)
            declare_lists(workspace.root / workspace.settings.rules.lists_file, lists, root=workspace.root)
            name = _ensure_published(workspace, rulesets)
            profiles = ProfileStore.from_warehouse(workspace.warehouse_dir)
            migrate_legacy_scorecards(workspace)  # before the deployments are read: old card files serve too
            service = cls(workspace, log=log, features=features, lists=lists, rulesets=rulesets, profiles=profiles,
                          ruleset_name=name, deployed=DeployedModels(workspace), log_writer=log_writer,
                          loop=loop, log_pace_s=log_pace_s)
        except BaseException:
            log.close()
            raise
        # The loaded state (millions of small objects) never becomes garbage: keep the cyclic
        # collector from walking it, which otherwise shows up as multi-millisecond p99 spikes.
        gc.collect()
        gc.freeze()
        return service

    def close(self) -> None:
        """Commit what is queued, save the feature state for a fast restart, close the log."""
        if self._rules_watcher is not None:
            self._rules_watcher.close()
        self._writer.close()
        with self._lock:
            engine = self.engine.features
            engine.log_seq = self.log.last_seq()
            _write_snapshot(self.workspace.root / SNAPSHOT_FILE, engine.snapshot())
        self.lists.close()
        self.rulesets.db.close()
        self.log.close()
        gc.unfreeze()  # let the state be collected (and native bindings release theirs at exit)

    def __enter__(self) -> DecisionService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- rules ----------------------------------------------------------------------------------
    def _names(self) -> RuleNames:
        return workspace_rule_names(self.workspace, lists=self.lists.list_names(), profiles=self.profiles)

    def _compile(self, ruleset: RuleSet, label: str) -> ActiveRuleSet:
        return ActiveRuleSet(label, ruleset.compile(names=self._names()))

    def _check_text(self, text: str) -> object:
        """A rule-set text the service could serve: it parses and its names (features, lists,
        profile fields) exist here. Without this a version naming a missing list was published and
        then could not be loaded: stored, audited, and never live."""
        return parse_ruleset(text).compile(names=self._names())

    def _active(self, name: str) -> ActiveRuleSet:
        live = self.rulesets.find_published(name)
        if live is None:
            raise WorkspaceError(f"rules: no published version of rule set {name!r}; "
                                 f"run 'finrisk rules publish' or check [rules] in finrisk.toml")
        return self._compile(parse_ruleset(live.text, file=f"{name}@{live.version}"), f"{name}@{live.version}")

    def _shadows(self) -> list[ActiveRuleSet]:
        out = []
        for name in self.rulesets.names():
            v = self.rulesets.shadow(name)
            if v is not None:
                out.append(self._compile(parse_ruleset(v.text, file=f"{name}@{v.version}"), f"{name}@{v.version}"))
        return out

    def reload_rules(self) -> None:
        """Serve the newest published, rolled-back or shadowed versions now (the API calls this
        after its own changes; changes made elsewhere are picked up by the watcher)."""
        self.sync_rules(force=True)

    def sync_rules(self, *, force: bool = False) -> bool:
        """Reload the live and shadow rule sets if the store's live state moved; True if swapped.

        They are compiled outside the decision lock and swapped in one assignment under it, so no
        decision waits for a compile and none sees half of a swap. A version that does not compile
        here (a list or feature it names is gone) raises and the previous rule sets stay live.
        """
        with self._reload_lock:
            state = self.rulesets.live_state(self.ruleset_name)  # read first: a publish meanwhile reloads again
            if not force and state == self._rules_state:
                return False
            active = self._active(self.ruleset_name)
            shadows = self._shadows()
            with self._lock:
                self.engine.swap_rules(active, shadows)
            self._rules_state = state
            return True

    # --- deciding -------------------------------------------------------------------------------
    def decide(self, body: Mapping[str, Any]) -> Decision:
        """Decide one event; returns once the event and its decision are durably logged."""
        t0 = time.perf_counter_ns()
        return self._decide(self._validator.validate(body), t0, body)

    async def decide_async(self, body: Mapping[str, Any]) -> Decision:
        """:meth:`decide` for an event loop: the wait for the commit holds no thread.

        The group-commit writer resolves the commit's future and the loop is woken from the writer
        thread (``call_soon_threadsafe``), so a request costs no thread-pool hop.
        """
        return (await self.decide_json_async(body))[0]

    async def decide_json_async(self, body: Mapping[str, Any]) -> tuple[Decision, bytes]:
        """:meth:`decide_async` with the decision's JSON body, the very bytes the log stored.

        Serialising a decision costs about as much as validating its event; the HTTP answer reuses
        the logged bytes instead of serialising it a second time (a retry's answer is serialised
        anew, since it says ``"idempotent": true``).
        """
        t0 = time.perf_counter_ns()
        event = self._validator.validate(body)
        while True:
            step = self._begin(event, t0, body)
            if isinstance(step, Decision):
                return step, orjson.dumps(step.to_dict())
            try:
                _check(await committed(step.future, _COMMIT_TIMEOUT_S))
            finally:
                self._settle(step)
            if step.decision is not None:
                if step.own:
                    return step.decision, step.body
                retry = step.decision.as_retry()
                return retry, orjson.dumps(retry.to_dict())

    def decide_json_soon(self, body: Mapping[str, Any], loop: asyncio.AbstractEventLoop,
                         then: Callable[[tuple[Decision, bytes] | Exception], object]) -> tuple[Decision, bytes] | None:
        """:meth:`decide_json_async` for a caller on the event loop, without a coroutine or a task.

        Returns the answer when there is nothing to wait for (a stored retry, a commit already
        over); else None, and ``then`` gets the answer, or the exception the coroutine would have
        raised, on ``loop`` (the running one) once the commit is over. Validation and deciding errors raise here.
        Same steps as the coroutine (``_begin``, the commit, ``_settle``), so the guarantees are
        the same: the answer only after the commit, racing retries wait for the first call's.
        """
        t0 = time.perf_counter_ns()
        return self._step_soon(self._validator.validate(body), body, t0, loop, then)

    def _step_soon(self, event: Mapping[str, Any], body: Mapping[str, Any], t0: int, loop: asyncio.AbstractEventLoop,
                   then: Callable[[tuple[Decision, bytes] | Exception], object]) -> tuple[Decision, bytes] | None:
        step = self._begin(event, t0, body)
        if isinstance(step, Decision):
            return step, orjson.dumps(step.to_dict())
        if when_committed(step.future, _COMMIT_TIMEOUT_S, loop,
                          lambda timed_out: self._resume_soon(event, body, t0, loop, step, then, timed_out)):
            return None
        done = self._after_commit(step)
        # None: the event came in through ingest() and has no decision of its own yet: go again
        return done if done is not None else self._step_soon(event, body, t0, loop, then)

    def _resume_soon(self, event: Mapping[str, Any], body: Mapping[str, Any], t0: int,
                     loop: asyncio.AbstractEventLoop, step: _Commit,
                     then: Callable[[tuple[Decision, bytes] | Exception], object], timed_out: Exception | None) -> None:
        """On the loop, once ``step``'s commit is over (or its wait timed out): hand ``then`` the answer."""
        try:
            if timed_out is not None:
                self._settle(step)
                raise timed_out
            done = self._after_commit(step)
            if done is None:
                done = self._step_soon(event, body, t0, loop, then)
        except Exception as exc:  # noqa: BLE001 - the caller answers it (a problem answer), as the coroutine's would
            then(exc)
            return
        if done is not None:
            then(done)

    def _after_commit(self, step: _Commit) -> tuple[Decision, bytes] | None:
        """The answer once ``step``'s commit is over (None: an ingested event, no decision yet)."""
        try:
            _check(step.future.result())
        finally:
            self._settle(step)
        if step.decision is None:
            return None
        if step.own:
            return step.decision, step.body
        retry = step.decision.as_retry()
        return retry, orjson.dumps(retry.to_dict())

    def _decide(self, event: Mapping[str, Any], t0: int, sent: Mapping[str, Any] | None = None) -> Decision:
        """:meth:`decide` for an event already validated from ``sent`` (its clock started at ``t0``)."""
        while True:
            step = self._begin(event, t0, sent)
            if isinstance(step, Decision):
                return step
            try:
                self._wait(step.future)
            finally:
                self._settle(step)
            if step.decision is not None:
                return step.decision if step.own else step.decision.as_retry()
            # else the event came in through ingest() and has no decision of its own yet: go again

    def _begin(self, event: Mapping[str, Any], t0: int, sent: Mapping[str, Any] | None = None) -> Decision | _Commit:
        """Under the lock: the stored answer to a retry, or the commit to wait for (ours or a racing call's).

        ``sent``: the body ``event`` was validated from (its times' text is reused, not formatted again).
        """
        eid = str(event["event_id"])
        event_text = sent_time_text(sent.get("event_time")) if sent is not None else None  # made once, used twice
        canonical = fast_canonical_json(event, sent, event_text)
        digest = body_hash_of(canonical)  # the log's own hash of the same bytes (handed to it below)
        with self._lock:
            pending = self._pending.get(eid)
            if pending is None:
                known, stored = self.log.event_state(eid)
                if known is not None and known != digest:
                    raise EventConflictError(eid)
                if stored is not None:
                    return Decision.from_dict(orjson.loads(stored)).as_retry()
                decision = self.engine.decide(event, update=known is None, started_ns=t0, event_text=event_text)
                raw = orjson.dumps(decision.to_dict())
                future = self._writer.submit(event, (decision.decision_id, raw), canonical=(canonical, digest))
                self._pending[eid] = (digest, future, decision)
                self.decisions_made += 1
                return _Commit(eid, future, decision, own=True, body=raw)
        first_digest, first_future, first = pending
        if first_digest != digest:
            raise EventConflictError(eid)
        return _Commit(eid, first_future, first, own=False)

    def _settle(self, step: _Commit) -> None:
        """The call that made a decision drops it from the in-flight table once its commit is over.

        A request cancelled while its commit is in flight leaves the entry until the commit ends, so
        a retry meanwhile waits for that commit instead of deciding the event a second time.
        """
        if step.own:
            if step.future.done():  # the usual case: no callback to build
                self._forget(step.eid)
            else:
                step.future.add_done_callback(lambda _: self._forget(step.eid))

    def _forget(self, eid: str) -> None:
        with self._lock:
            self._pending.pop(eid, None)

    @staticmethod
    def _wait(future: CommitTicket) -> None:
        try:
            result = future.result(timeout=_COMMIT_TIMEOUT_S)
        except TimeoutError:
            raise StoreError(f"event log: the commit took longer than {_COMMIT_TIMEOUT_S:.0f} s") from None
        _check(result)

    def credit_application(self, body: Mapping[str, Any], *, scorecard: str | None = None) -> dict[str, Any]:
        """Decide an application like any event, then add the scorecard's score, limit and verdict."""
        t0 = time.perf_counter_ns()
        event = self._validator.validate(body)
        decision = self._decide(event, t0)
        profile = self.profiles.get(event.get("customer_id"))
        return {"decision": decision.to_dict(),
                "credit": credit_verdict(decision, event, profile, self.engine.deployed, scorecard=scorecard)}

    def get_decision(self, decision_id: str) -> Decision | None:
        raw = self.log.get_decision(decision_id)
        return None if raw is None else Decision.from_dict(orjson.loads(raw))

    # --- bulk events ----------------------------------------------------------------------------
    def ingest(self, bodies: Sequence[Mapping[str, Any]]) -> IngestResult:
        """Validate and log many events (no decisions); accepted ones update the feature state.

        Every body is judged on its own: refused ones are listed with their index and problems and
        never stop the others.
        """
        rejected: list[dict[str, Any]] = []
        fresh: list[tuple[str, CommitTicket]] = []
        duplicates = 0
        events = []
        for i, body in enumerate(bodies):
            try:
                events.append((i, self._validator.validate(body)))
            except FinriskError as exc:
                rejected.append(_rejection(i, body, exc))
        with self._lock:
            for i, event in events:
                eid = str(event["event_id"])
                digest = body_hash_of(fast_canonical_json(event))
                pending = self._pending.get(eid)
                known = pending[0] if pending is not None else self.log.body_hash(eid)
                if known is not None:
                    if known == digest:
                        duplicates += 1
                    else:
                        rejected.append(_rejection(i, event, EventConflictError(eid)))
                    continue
                self.engine.features.update(event)
                future = self._writer.submit(event)
                self._pending[eid] = (digest, future, None)
                fresh.append((eid, future))
        try:
            for _, future in fresh:
                self._wait(future)
        finally:
            with self._lock:
                for eid, _ in fresh:
                    self._pending.pop(eid, None)
        rejected.sort(key=lambda r: int(r["index"]))
        return IngestResult(accepted=len(fresh), duplicates=duplicates, rejected=tuple(rejected))

    # --- introspection --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "ready": True,
            "ruleset": self.engine.rules.label,
            "shadow": [s.label for s in self.engine.shadows],
            "features": len(self.engine.features.feature_set.names),
            "feature_version": self.engine.feature_version,
            "decisions_since_start": self.decisions_made,
            "log_batches": self._writer.batches,
            "uptime_s": round(time.time() - self._started, 1),
        }


@dataclass(slots=True)
class _Commit:
    """An event's place in a group commit: the future to wait for and the decision it will make durable."""

    eid: str
    future: CommitTicket
    decision: Decision | None
    own: bool  # this call made the decision (not a retry racing it)
    body: bytes = b""  # the decision's JSON as logged (when ``own``)


def _check(result: AppendResult) -> None:
    if result.status is AppendStatus.CONFLICT:
        raise EventConflictError(result.event_id)


def _rejection(index: int, body: Mapping[str, Any] | Any, exc: FinriskError) -> dict[str, Any]:
    eid = body.get("event_id") if isinstance(body, Mapping) else None
    problems = [p.as_dict() for p in getattr(exc, "problems", [])]
    return {"index": index, "event_id": None if eid is None else str(eid), "error": type(exc).__name__,
            "message": str(exc), "problems": problems}


def _ensure_published(workspace: Workspace, repo: RuleSetRepository) -> str:
    """The live rule set's name; the workspace's rule file becomes version 1 the first time round.

    Later edits of the file go live only through ``finrisk rules publish`` (with author and message).
    """
    settings = workspace.settings.rules
    if settings.ruleset is not None and repo.find_published(settings.ruleset) is not None:
        return settings.ruleset
    path = workspace.root / settings.file
    if not path.is_file():
        raise WorkspaceError(f"rules.file: {path} does not exist and no rule set is published", file="finrisk.toml")
    ruleset = load_ruleset(path)
    if settings.ruleset is not None and ruleset.name != settings.ruleset:
        raise WorkspaceError(f"rules.ruleset is {settings.ruleset!r} but {path.name} declares rule set "
                             f"{ruleset.name!r}", file="finrisk.toml")
    if repo.find_published(ruleset.name) is None:
        repo.publish(ruleset.name, author="finrisk", message=f"first version, from {path.name}", text=ruleset.text)
    return ruleset.name


def _load_features(workspace: Workspace, log: EmbeddedEventLog, progress: Progress | None) -> OnlineFeatureEngine:
    feature_set = workspace.features
    lateness_us = workspace.settings.features.allowed_lateness_seconds * 1_000_000
    path = workspace.root / SNAPSHOT_FILE
    engine: OnlineFeatureEngine | None = None
    if path.is_file():
        try:
            engine = OnlineFeatureEngine.restore(feature_set, path.read_bytes())
        except SnapshotError as exc:  # other declarations or an older format: rebuild instead, and say why
            _log.info("feature snapshot not used; rebuilding the feature state from the event log",
                      extra={"fields": {"reason": str(exc)}})
    if engine is None or engine.allowed_lateness_us != lateness_us:
        # In event-time order, not arrival order: a bulk-loaded log holds one event type after another.
        engine = OnlineFeatureEngine(feature_set, allowed_lateness_us=lateness_us)
        engine.apply(log.read_in_time_order(), total=log.count(), progress=progress)
    else:
        engine.apply(log.read(after_seq=engine.log_seq), total=log.last_seq() - engine.log_seq, progress=progress)
    _write_snapshot(path, engine.snapshot())
    return engine


def _write_snapshot(path: Path, data: bytes) -> None:
    """Write to a temporary name, then rename: a crash mid-write never leaves half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
