"""The set of event types a workspace declares, looked up by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from finrisk._yamlfile import load_yaml, parse_yaml
from finrisk.errors import UnknownEventTypeError, WorkspaceError
from finrisk.events.schema import EventType, parse_event_types

__all__ = ["BUILTIN_EVENT_TYPES_FILE", "EventTypeRegistry", "builtin_event_types_text"]

BUILTIN_EVENT_TYPES_FILE = "builtin_event_types.yaml"


def builtin_event_types_text() -> str:
    """The YAML of the built-in event types (what ``finrisk init`` writes into a workspace)."""
    return resources.files("finrisk.events").joinpath(BUILTIN_EVENT_TYPES_FILE).read_text("utf-8")


class EventTypeRegistry:
    """Event types by name.

    Examples
    --------
    >>> reg = EventTypeRegistry.builtin()
    >>> reg.get("login").field("success").type.value
    'boolean'
    """

    def __init__(self, types: Iterable[EventType]) -> None:
        self._types: dict[str, EventType] = {}
        for t in types:
            if t.name in self._types:
                raise WorkspaceError(f"event type {t.name!r} is declared twice")
            self._types[t.name] = t

    @classmethod
    def builtin(cls) -> EventTypeRegistry:
        return cls(parse_event_types(parse_yaml(builtin_event_types_text(), BUILTIN_EVENT_TYPES_FILE)))

    @classmethod
    def from_files(cls, paths: Iterable[Path], *, root: Path | None = None) -> EventTypeRegistry:
        """Load and merge event-type files; a type declared in two files is an error naming both."""
        seen: dict[str, str] = {}
        types: list[EventType] = []
        for path in paths:
            name = str(path.relative_to(root)) if root is not None else str(path)
            doc = load_yaml(path, display_name=name)
            for t in parse_event_types(doc):
                if t.name in seen:
                    raise doc.error(
                        ("event_types", t.name),
                        f"event type {t.name!r} is already declared in {seen[t.name]}",
                    )
                seen[t.name] = name
                types.append(t)
        return cls(types)

    def get(self, name: object) -> EventType:
        """The type called ``name``; an unknown name lists the known ones."""
        if isinstance(name, str):
            found = self._types.get(name)
            if found is not None:
                return found
        raise UnknownEventTypeError(name, list(self._types))

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[EventType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    @property
    def names(self) -> list[str]:
        return list(self._types)
