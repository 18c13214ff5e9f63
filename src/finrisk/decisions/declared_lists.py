"""Lists declared in the workspace (``lists.yaml``): created when the service starts.

Rules name lists (``lists.blocked_devices.contains(event.device_id)``) and the rule compiler
refuses unknown names, so a list a rule needs must exist before the rule set compiles. Declaring
the lists as data next to the rules keeps a workspace self-contained: a fresh clone starts with
the lists its rules read (empty), and entries are then managed by API or CLI with an audit trail.
A declared list that exists already is left as it is (its entries are never touched here).

    lists:
      blocked_devices:
        kind: black            # black | white | grey
        field: device_id       # the event field whose values the list holds
        description: Devices seen in confirmed fraud.
"""

from __future__ import annotations

from pathlib import Path

from finrisk._yamlfile import load_yaml
from finrisk.errors import ListError
from finrisk.rules.lists import ListKind, ListStore

__all__ = ["declare_lists"]

_KEYS = {"kind", "field", "description"}


def declare_lists(path: Path, store: ListStore, *, root: Path | None = None) -> list[str]:
    """Create every list of ``path`` that does not exist yet; returns the names created."""
    if not path.is_file():
        return []
    doc = load_yaml(path, display_name=str(path.relative_to(root)) if root else path.name)
    data = doc.data or {}
    if not isinstance(data, dict) or not isinstance(data.get("lists", {}), dict):
        raise doc.error((), "expected a top-level 'lists:' mapping of list name -> {kind, field, description}")
    existing = store.list_names()
    created = []
    for name, spec in (data.get("lists") or {}).items():
        where = ("lists", name)
        if not isinstance(spec, dict):
            raise doc.error(where, f"list {name!r}: expected a mapping with kind and field")
        unknown = set(spec) - _KEYS
        if unknown:
            raise doc.error((*where, sorted(unknown)[0]), f"list {name!r}: unknown key {sorted(unknown)[0]!r} "
                            f"(allowed: {', '.join(sorted(_KEYS))})")
        for key in ("kind", "field"):
            if key not in spec:
                raise doc.error(where, f"list {name!r}: missing {key!r}")
        if str(spec["kind"]) not in {k.value for k in ListKind}:
            raise doc.error((*where, "kind"), f"list {name!r}: kind must be one of "
                            f"{', '.join(k.value for k in ListKind)}, got {spec['kind']!r}")
        if name in existing:
            continue
        try:
            store.create_list(str(name), str(spec["kind"]), str(spec["field"]), str(spec.get("description", "")),
                              created_by="finrisk")
        except ListError as exc:
            raise doc.error(where, f"list {name!r}: {exc}") from None
        created.append(str(name))
    return created
