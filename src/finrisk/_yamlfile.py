"""Read a declarative YAML file and remember the line of every key.

Workspace errors must name the file and the line; plain ``yaml.safe_load`` forgets where things
came from, so this composes the node tree once and records ``path -> line`` for every mapping key
and sequence item. Later validation turns a path such as ``("event_types", "login", "fields")``
into a line with :meth:`LocatedDocument.line_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from finrisk.errors import WorkspaceError

PathKey = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    """A parsed YAML document plus the 1-based line of every key path."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)

    def error(self, path: PathKey, message: str) -> WorkspaceError:
        return WorkspaceError(message, file=self.file, line=self.line_of(path))


def _convert(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise WorkspaceError(
                    "keys must be plain names", file=file, line=key_node.start_mark.line + 1
                )
            key = str(key_node.value)
            if key in out:
                raise WorkspaceError(
                    f"duplicate key {key!r}", file=file, line=key_node.start_mark.line + 1
                )
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, child, lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    # A scalar: let the safe constructor resolve ints, floats, booleans and nulls.
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_yaml(path: Path, *, display_name: str | None = None) -> LocatedDocument:
    """Parse ``path``; a syntax error becomes a :class:`WorkspaceError` with file and line."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkspaceError("file not found", file=name) from None
    except UnicodeDecodeError as exc:
        raise WorkspaceError(f"not UTF-8 text ({exc.reason})", file=name) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> LocatedDocument:
    """Parse YAML text (see :func:`load_yaml`)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise WorkspaceError(f"YAML syntax error: {problem}", file=name, line=line) from None
    except yaml.YAMLError as exc:
        raise WorkspaceError(f"YAML error: {exc}", file=name) from None
    lines: dict[PathKey, int] = {}
    data = None if root is None else _convert(root, (), lines, name)
    return LocatedDocument(file=name, data=data, lines=lines)
