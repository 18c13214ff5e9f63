"""The names a condition may use, checked at compile time with a "did you mean" suggestion.

A condition reads five namespaces: ``event.<field>``, ``features.<name>``, ``models.<name>``,
``profile.<field>`` and ``lists.<list>.contains(...)``. :class:`RuleNames` says which names exist
in each; ``None`` means the namespace is open (anything allowed), which is what a caller that does
not know (yet) passes. Identifiers follow one strict pattern so that nothing a user writes can reach
the generated code except as a quoted string constant.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from finrisk.events.registry import EventTypeRegistry

__all__ = ["NAMESPACES", "RuleNames", "suggest", "valid_identifier"]

#: Value namespaces (``lists`` is separate: it is only reached through ``.contains``).
NAMESPACES = ("event", "features", "models", "profile")
ALL_NAMESPACES = (*NAMESPACES, "lists")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


def valid_identifier(name: str) -> bool:
    """Letters, digits and underscores, starting with a letter (so no dunder names), at most 128 long."""
    return bool(_IDENTIFIER.match(name))


def suggest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class RuleNames:
    """The names that exist per namespace (``None``: any name is accepted there).

    Parameters
    ----------
    event_fields, features, models, lists, profile_fields
        Known names of each namespace, or ``None`` for an open namespace.
    event_types
        Event types a rule's ``events:`` may name (``None``: any).
    pii_fields
        Event fields holding personal data; reason texts may not show them.
    fields_by_event_type
        Fields of each event type: a rule limited to some event types may only read their fields.

    Examples
    --------
    >>> names = RuleNames(event_fields=frozenset({"amount"}), features=None, models=frozenset(),
    ...                   lists=None, profile_fields=None)
    >>> names.known("event")
    frozenset({'amount'})
    """

    event_fields: frozenset[str] | None = None
    features: frozenset[str] | None = None
    models: frozenset[str] | None = None
    lists: frozenset[str] | None = None
    profile_fields: frozenset[str] | None = None
    event_types: frozenset[str] | None = None
    pii_fields: frozenset[str] = frozenset()
    fields_by_event_type: Mapping[str, frozenset[str]] | None = field(default=None, compare=False)

    def known(self, namespace: str) -> frozenset[str] | None:
        return {
            "event": self.event_fields,
            "features": self.features,
            "models": self.models,
            "profile": self.profile_fields,
            "lists": self.lists,
        }[namespace]

    @classmethod
    def from_registry(
        cls,
        registry: EventTypeRegistry,
        *,
        features: Iterable[str] | None = None,
        models: Iterable[str] | None = None,
        lists: Iterable[str] | None = None,
        profile_fields: Iterable[str] | None = None,
    ) -> RuleNames:
        """Names from declared event types (fields, types, personal-data flags) plus the other namespaces."""
        by_type = {t.name: frozenset(f.name for f in t.fields) for t in registry}
        pii = frozenset(f.name for t in registry for f in t.fields if f.pii)

        def opt(xs: Iterable[str] | None) -> frozenset[str] | None:
            return None if xs is None else frozenset(xs)

        return cls(
            event_fields=frozenset().union(*by_type.values()),
            features=opt(features),
            models=opt(models),
            lists=opt(lists),
            profile_fields=opt(profile_fields),
            event_types=frozenset(by_type),
            pii_fields=pii,
            fields_by_event_type=by_type,
        )
