"""The rule sets in force at a past moment: the published version of each and the shadow versions.

Published versions are immutable rows with their publish time (``ruleset_versions``), so the live
version at ``T`` is the newest one published at or before ``T``. Shadows are a single mutable row
per rule set, so their history comes from the audit trail (``set_shadow`` / ``clear_shadow``
records, each with its time and version). Compiled rule sets are cached by ``name@version``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict

import orjson
from sqlalchemy import select

from finrisk.decisions.engine import ActiveRuleSet
from finrisk.errors import RuleSetNotFoundError
from finrisk.rules import RuleNames, parse_ruleset
from finrisk.rules.versions import RuleSetRepository, RuleSetVersion
from finrisk.store.relational import audit_log, datetime_to_us

__all__ = ["RuleSetHistory"]


class RuleSetHistory:
    """Every rule set's published and shadow versions over time, compiled on first use."""

    def __init__(self, repo: RuleSetRepository, names: RuleNames) -> None:
        self.repo = repo
        self.names = names
        self._published: dict[str, tuple[list[int], list[RuleSetVersion]]] = {}
        self._shadow: dict[str, tuple[list[int], list[int | None]]] = {}
        self._compiled: dict[str, ActiveRuleSet] = {}
        for name in repo.names():
            try:
                versions = sorted(repo.history(name), key=lambda v: v.version)
            except RuleSetNotFoundError:  # a name with only a draft has no published history
                continue
            self._published[name] = ([datetime_to_us(v.created_at) for v in versions], versions)
        shadow: dict[str, tuple[list[int], list[int | None]]] = defaultdict(lambda: ([], []))
        a = audit_log.c
        query = (select(a.at_us, a.object_name, a.action, a.new)
                 .where((a.object_type == "ruleset") & a.action.in_(("set_shadow", "clear_shadow")))
                 .order_by(a.id))
        with repo.db.read() as conn:
            for at_us, name, action, new in conn.execute(query):
                shadow_times, shadow_versions = shadow[name]
                shadow_times.append(int(at_us))
                shadow_versions.append(int(orjson.loads(new)["version"]) if action == "set_shadow" and new else None)
        self._shadow = dict(shadow)

    def published_at(self, name: str, at_us: int) -> ActiveRuleSet | None:
        """The live version of ``name`` at ``at_us``, compiled (None before its first publish)."""
        times, versions = self._published.get(name, ([], []))
        i = bisect_right(times, at_us)
        return self._compile(versions[i - 1]) if i else None

    def shadows_at(self, at_us: int) -> tuple[ActiveRuleSet, ...]:
        """The shadow versions in force at ``at_us``, in the service's order (by rule-set name)."""
        out = []
        for name in sorted(self._shadow):
            times, versions = self._shadow[name]
            i = bisect_right(times, at_us)
            version = versions[i - 1] if i else None
            if version is not None:
                out.append(self._compile(self._version(name, version)))
        return tuple(out)

    def current(self, name: str) -> ActiveRuleSet | None:
        """The version of ``name`` published now (what a decision made today would use)."""
        times, versions = self._published.get(name, ([], []))
        return self._compile(versions[-1]) if versions else None

    def _version(self, name: str, number: int) -> RuleSetVersion:
        for v in self._published.get(name, ([], []))[1]:
            if v.version == number:
                return v
        return self.repo.get(name, number)

    def _compile(self, version: RuleSetVersion) -> ActiveRuleSet:
        label = f"{version.name}@{version.version}"
        found = self._compiled.get(label)
        if found is None:
            found = ActiveRuleSet(label, parse_ruleset(version.text, file=label).compile(names=self.names))
            self._compiled[label] = found
        return found
